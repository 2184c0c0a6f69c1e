from kasoku.cli import main

main()
