"""``python -m enterprise_agent``: run the service until SIGTERM / SIGINT; exit code 0 after a drain."""

import sys

from enterprise_agent.service import main

sys.exit(main())
