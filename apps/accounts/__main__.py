from apps.accounts.service import main
from apps.runtime import run

run(main, database=True)
