"""What the hooks read while obs runs in a service: settings, the active state, the
instruments they record into, and the failures they swallow."""
