from apps.invoices.service import main
from apps.runtime import run

run(main)
