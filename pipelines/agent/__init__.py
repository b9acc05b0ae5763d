"""Pure logic of the file-tailing agent (processing options)."""
