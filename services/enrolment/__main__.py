"""`python -m services.enrolment` serves; `python -m services.enrolment rebuild-passports` rebuilds
the learning passports from the topics and compares them with the live ones."""

import sys

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from services.enrolment.cli import app
        from shared.local_env import run_service_cli

        run_service_cli(app, "enrolment")
    else:
        from services.enrolment.bootstrap import build_app
        from services.enrolment.config import settings
        from shared.serve import serve

        serve(settings(), build_app)
