"""One router per resource; each route reads the current snapshot and returns its bytes."""
