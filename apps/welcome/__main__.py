from apps.runtime import run
from apps.welcome.worker import main

run(main, database=True)
