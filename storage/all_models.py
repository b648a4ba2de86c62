"""Imports every table module so that SQLModel.metadata knows them (Alembic, tests).

A feature that adds tables adds its module here.
"""

from storage import models  # noqa: F401
from storage import inbox  # noqa: F401,E402
from storage import officials  # noqa: F401,E402
from storage import whatsapp  # noqa: F401,E402
from storage import outbox  # noqa: F401,E402
from storage import officials_extra  # noqa: F401,E402
from storage import keyring  # noqa: F401,E402
from storage import tickets  # noqa: F401,E402
from storage import wa_templates  # noqa: F401,E402
from storage import links  # noqa: F401,E402
from storage import identity  # noqa: F401,E402
from storage import dashboard  # noqa: F401,E402
from storage import claims  # noqa: F401,E402
