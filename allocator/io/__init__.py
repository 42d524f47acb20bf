"""Reading input files safely and writing outputs atomically; located errors and exit codes."""
