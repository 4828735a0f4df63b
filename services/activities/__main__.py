from services.activities.bootstrap import build_app
from services.activities.config import settings
from shared.serve import serve

if __name__ == "__main__":
    serve(settings(), build_app)
