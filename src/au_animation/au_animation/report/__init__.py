"""au-report: the paper's objective analyses of a session's AU stream (pure numpy; figures with matplotlib)."""
