"""`python -m deploykit`: the command line where only the package is at hand (the metal
hosts' apps bundle runs the scheduled `deploykit backup` so)."""

from deploykit.cli import main

main()
