"""PostgreSQL access shared by the services: pool, migrations, unit of work, outbox, inbox."""
