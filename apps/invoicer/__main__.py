from apps.invoicer.worker import main
from apps.runtime import run

run(main)
