"""Starting and stopping obs in a service: ``obs.init()``, its OpenTelemetry providers,
Sentry, and the ``obs settings`` command."""
