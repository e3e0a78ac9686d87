from edgetool.cli import main

main()
