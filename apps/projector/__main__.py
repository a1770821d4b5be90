from apps.projector.worker import main
from apps.runtime import run

run(main)
