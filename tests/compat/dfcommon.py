"""What the dremioframe scripts share: dremioframe's backend module loaded by
file path (its package __init__ pulls about 1 GB of libraries), the local
server URLs, and the MySQL connection settings dremioframe's MySQLBackend takes.
Used by tests/compat/check.py and benches/dremioframe_servers.py."""
import importlib.util
import os
from urllib.parse import urlparse, unquote

PG_URL = os.environ.get("DORCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("DORCH_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def load_backend(path):
    spec = importlib.util.spec_from_file_location("dremioframe_backend", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mysql_config():
    u = urlparse(MYSQL_URL)
    return {
        "user": unquote(u.username or ""),
        "password": unquote(u.password or ""),
        "host": u.hostname or "localhost",
        "port": u.port or 3306,
        "database": u.path.lstrip("/"),
    }
