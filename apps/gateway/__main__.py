from apps.gateway.server import main
from apps.runtime import run

run(main, port=True)
