"""HTTP pieces shared by the services: health, readiness, metrics, authentication, errors."""
