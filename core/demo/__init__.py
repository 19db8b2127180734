"""obs demo: the whole bundle on embedded servers (SecantusDB, a private Redis)."""
