"""Fixtures for the web console tests: `ferrocket dev` with its console, a headless Chromium
(Debian's `chromium` + `chromium-driver`) driven by Selenium, and the admin CLI."""
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
from selenium import webdriver

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FERROCKET_BIN", os.path.join(REPO, "target", "debug", "ferrocket"))
# Screenshots land here (a test artifact; scripts/test.sh prints the path).
SHOTS = os.environ.get("FERROCKET_CONSOLE_SHOTS", os.path.join(REPO, "target", "console-screenshots"))


class Broker:
    def __init__(self, extra_args):
        self.dir = tempfile.mkdtemp(prefix="ferrocket-console-")
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "dev", "--data-dir", os.path.join(self.dir, "data")] + extra_args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        got = threading.Event()
        self.info = {}

        def reader():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not got.is_set() and line.startswith("{"):
                    self.info.update(json.loads(line))
                    got.set()

        threading.Thread(target=reader, daemon=True).start()
        if not got.wait(30):
            self.stop()
            raise RuntimeError("ferrocket dev printed no ready line")
        self.console = "http://" + self.info["consoleAddr"]
        self.namesrv = self.info["namesrvAddr"]

    def admin(self, *args):
        out = subprocess.run([BIN, "admin", *args, "-n", self.namesrv], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def broker():
    b = Broker(["--topic", "ConsoleT:4"])
    yield b
    b.stop()


@pytest.fixture(scope="module")
def read_only_broker(tmp_path_factory):
    conf = tmp_path_factory.mktemp("conf") / "broker.conf"
    conf.write_text("consoleReadOnly=true\n")
    b = Broker(["--topic", "RoT:1", "--config", str(conf)])
    yield b
    b.stop()


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    d = tmp_path_factory.mktemp("acl")
    (d / "plain_acl.yml").write_text("accounts:\n  - accessKey: consoleAdmin\n    secretKey: console-secret-1\n    admin: true\n")
    conf = d / "broker.conf"
    conf.write_text("aclEnable=true\naclFilePath=plain_acl.yml\n")
    b = Broker(["--topic", "AclT:1", "--config", str(conf)])
    yield b
    b.stop()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(a)
    service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture
def shot(browser):
    def take(name):
        browser.save_screenshot(os.path.join(SHOTS, name + ".png"))
    return take
