from reformer_cli.cli import main

main()
