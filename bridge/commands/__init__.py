"""The command-line faces of `zybridge`: argparse and printing, one module per command
group, and render.py where tables, masks and the CSV/JSON writers are written once."""
