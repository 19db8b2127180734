"""The load-test regression gate: ``obs slo check`` judges a service under load against its
SLOs (and monitors marked ``gate=True``) over live Prometheus endpoints, and ``obs slo export
--k6`` writes the k6 thresholds that match them."""
