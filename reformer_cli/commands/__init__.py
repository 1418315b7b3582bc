"""One module per subcommand: each parses options, calls the library, prints."""
