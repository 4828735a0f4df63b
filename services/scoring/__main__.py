"""`python -m services.scoring` serves; `python -m services.scoring rebuild` rebuilds the index."""

import gc
import sys

from services.scoring.adapters.indicator_file import IndicatorFileError
from services.scoring.domain.district import DistrictSettingError

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from services.scoring.cli import app
        from shared.local_env import run_service_cli

        run_service_cli(app, "scoring")
    else:
        from services.scoring.bootstrap import build_app
        from services.scoring.config import settings
        from shared.serve import serve

        # Batches of thousands of short-lived event objects trigger generation-0 collections
        # constantly at the default threshold (700); nothing here relies on cycles being freed fast.
        gc.set_threshold(50_000, 20, 20)
        try:
            serve(settings(), build_app)
        except (IndicatorFileError, DistrictSettingError) as error:
            print(f"scoring: cannot start: {error}", file=sys.stderr)
            sys.exit(2)
