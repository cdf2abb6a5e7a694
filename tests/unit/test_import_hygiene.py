"""The engine and the config stay UI-free: importing them must not pull in Textual or Rich."""

import subprocess
import sys


def test_engine_and_config_do_not_import_textual_or_rich():
    code = (
        "import sys\n"
        "import workbench.engine, workbench.config\n"
        "import workbench.engine.engine, workbench.engine.admin, workbench.config.load\n"
        "import workbench.headless, workbench.runtime\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
