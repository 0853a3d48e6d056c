"""Admin operations as a library: typed arguments in, typed reports out, no printing and
no argument parsing (the commands and a web console call them)."""
