"""Autoscaling signals for BullMQ workers: a KEDA ``ScaledObject`` or a Kubernetes HPA
served by the Datadog Cluster Agent, built from the metric catalog (``obs autoscale``).

``signals`` says what to measure (the queries), ``manifests`` what to apply (the
objects, as values), ``escaping`` how a queue name is written into a query, and
``command`` prints them as YAML. docs/autoscale.md explains the choice of signal.
"""
