"""The web console in a real headless Chromium: pages render the broker's state, the forms work,
and what it shows agrees with the admin CLI."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def click_nav(browser, element):
    """Click something that loads a new page and wait for it.

    The old page is marked on its `window`; the new page has a fresh one. (Selenium's
    `staleness_of` asks the driver about the old element while the page is being replaced, and
    chromedriver sometimes answers that with an "unhandled inspector error" instead of a stale
    element, which failed a CI run.) Driver errors while the page is in flight are retried."""
    browser.execute_script("window.__ferrocketOldPage = true;")
    element.click()

    def new_page_loaded(driver):
        return driver.execute_script(
            "return window.__ferrocketOldPage !== true && document.readyState === 'complete';")

    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(new_page_loaded)


def texts(browser, css):
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, css)]


def send_via_form(browser, console, topic, body, tags="", keys=""):
    browser.get(console + "/send")
    browser.find_element(By.ID, "s-topic").send_keys(topic)
    browser.find_element(By.ID, "s-tags").send_keys(tags)
    browser.find_element(By.ID, "s-keys").send_keys(keys)
    browser.find_element(By.ID, "s-body").send_keys(body)
    click_nav(browser, browser.find_element(By.CSS_SELECTOR, "#send button[type=submit]"))
    return browser.find_element(By.ID, "sent-id").text


def progress(broker, group):
    """{(topic, queue): (brokerOffset, consumerOffset)} from `ferrocket admin consumerProgress --json`."""
    out = json.loads(broker.admin("consumerProgress", "-g", group, "--json"))
    rows = {}

    def walk(v):
        if isinstance(v, dict):
            if "brokerOffset" in v and "consumerOffset" in v and "topic" in v:
                rows[(v["topic"], int(v.get("queueId", -1)))] = (int(v["brokerOffset"]), int(v["consumerOffset"]))
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(out)
    return rows


def test_overview_and_topics(broker, browser, shot):
    browser.get(broker.console + "/")
    cells = dict(zip(texts(browser, "#broker th"), texts(browser, "#broker td")))
    assert cells["Cluster"] == "DefaultCluster"
    assert cells["Name servers"] == broker.namesrv
    shot("overview")
    browser.get(broker.console + "/topics")
    rows = browser.find_elements(By.CSS_SELECTOR, "#topics tr[data-topic]")
    names = [r.get_attribute("data-topic") for r in rows]
    assert "ConsoleT" in names
    assert "SCHEDULE_TOPIC_XXXX" not in names  # system topics only on request
    browser.find_element(By.CSS_SELECTOR, "input[name=system]").click()
    click_nav(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/topics'] button"))
    assert "SCHEDULE_TOPIC_XXXX" in [r.get_attribute("data-topic") for r in browser.find_elements(By.CSS_SELECTOR, "#topics tr[data-topic]")]


def test_cluster_page_lists_this_broker_from_the_name_server(broker, browser):
    browser.get(broker.console + "/cluster")
    rows = browser.find_elements(By.CSS_SELECTOR, "#brokers tr[data-broker]")
    assert [(r.get_attribute("data-broker"), r.find_element(By.CSS_SELECTOR, "td.addr").text) for r in rows] == [("broker-a", broker.info["brokerAddr"])]
    assert "this broker" in rows[0].text
    out = broker.admin("clusterList")
    assert "broker-a" in out and broker.info["brokerAddr"] in out


def test_send_form_then_lookup_by_id_key_and_offset(broker, browser, shot):
    msg_id = send_via_form(browser, broker.console, "ConsoleT", "hello from the console", tags="TagA", keys="order-42")
    assert len(msg_id) == 32
    shot("sent")
    click_nav(browser, browser.find_element(By.LINK_TEXT, "View it"))
    section = browser.find_element(By.CSS_SELECTOR, "section.message")
    assert section.get_attribute("data-msg-id") == msg_id
    assert browser.find_element(By.CSS_SELECTOR, "pre.body").text == "hello from the console"
    assert browser.find_element(By.CSS_SELECTOR, "td.tags").text == "TagA"
    shot("message")
    # by key
    browser.get(broker.console + "/messages")
    form = browser.find_element(By.ID, "by-key")
    form.find_element(By.NAME, "topic").send_keys("ConsoleT")
    form.find_element(By.NAME, "key").send_keys("order-42")
    click_nav(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert [s.get_attribute("data-msg-id") for s in browser.find_elements(By.CSS_SELECTOR, "section.message")] == [msg_id]
    # by unique id without a topic
    browser.get(broker.console + "/messages?id=" + msg_id)
    assert browser.find_element(By.CSS_SELECTOR, "pre.body").text == "hello from the console"
    # as hex
    click_nav(browser, browser.find_element(By.LINK_TEXT, "as hex"))
    assert browser.find_element(By.CSS_SELECTOR, "pre.body").get_attribute("data-encoding") == "hex"
    assert browser.find_element(By.CSS_SELECTOR, "pre.body").text.startswith("68 65 6c 6c 6f")
    # by queue offset: the topic page links each queue's last message
    browser.get(broker.console + "/topic?name=ConsoleT")
    click_nav(browser, browser.find_element(By.LINK_TEXT, "last message"))
    assert browser.find_element(By.CSS_SELECTOR, "section.message").get_attribute("data-msg-id") == msg_id
    # unknown id
    browser.get(broker.console + "/messages?id=0123456789ABCDEF0123456789ABCDEF")
    assert browser.find_element(By.ID, "not-found").text == "No message found."


def test_group_lag_matches_admin_and_reset_form(broker, browser, shot):
    group = "console_cg"
    broker.admin("updateSubGroup", "-c", "DefaultCluster", "-g", group)
    # mqadmin's consumerProgress finds the brokers by the group's retry topic, which a consumer's
    # first heartbeat creates; this group never had a member.
    broker.admin("updateTopic", "-c", "DefaultCluster", "-t", "%RETRY%" + group, "-r", "1", "-w", "1")
    # The group starts at the end of ConsoleT (offline group: ferrocket stores the offsets at once).
    broker.admin("resetOffsetByTime", "-g", group, "-t", "ConsoleT", "-s", "now")
    for i in range(6):
        send_via_form(browser, broker.console, "ConsoleT", f"lag {i}")
    browser.get(broker.console + "/group?name=" + group)
    shot("group")
    admin = progress(broker, group)
    admin_lag = sum(b - c for (t, _), (b, c) in admin.items() if t == "ConsoleT")
    assert admin_lag == 6
    assert int(browser.find_element(By.ID, "total-lag").text) == admin_lag
    for row in browser.find_elements(By.CSS_SELECTOR, "#progress tr[data-queue]"):
        key = (row.get_attribute("data-topic"), int(row.get_attribute("data-queue")))
        b, c = admin[key]
        assert int(row.find_element(By.CSS_SELECTOR, "td.lag").text) == b - c
        assert int(row.find_element(By.CSS_SELECTOR, "td.consumer-offset").text) == c
    # The group list shows the group (offline: no lag column value).
    browser.get(broker.console + "/groups")
    assert group in [r.get_attribute("data-group") for r in browser.find_elements(By.CSS_SELECTOR, "#groups tr[data-group]")]
    # Reset to the beginning through the form, with its confirmation step.
    browser.get(broker.console + "/group?name=" + group)
    Select(browser.find_element(By.ID, "reset-topic")).select_by_value("ConsoleT")
    browser.find_element(By.ID, "reset-time").send_keys("0")
    click_nav(browser, browser.find_element(By.CSS_SELECTOR, "#reset button[type=submit]"))
    assert "Move consumer group console_cg on topic ConsoleT" in browser.find_element(By.ID, "confirm-text").text
    shot("reset-confirm")
    assert progress(broker, group) == admin  # nothing moved before confirming
    click_nav(browser, browser.find_element(By.ID, "confirm"))
    assert "reset" in browser.find_element(By.ID, "reset-done").text
    after = progress(broker, group)
    assert all(c == 0 for (t, _), (_, c) in after.items() if t == "ConsoleT")
    total = sum(b for (t, _), (b, _) in after.items() if t == "ConsoleT")
    browser.get(broker.console + "/group?name=" + group)
    assert int(browser.find_element(By.ID, "total-lag").text) == total
    # The lag chart is drawn (at least the sample taken at start).
    chart = browser.find_element(By.ID, "lag")
    assert chart.find_element(By.TAG_NAME, "svg").is_displayed()


def test_throughput_chart_gets_samples(broker, browser):
    browser.get(broker.console + "/topic?name=ConsoleT")
    chart = browser.find_element(By.ID, "throughput")
    assert chart.find_element(By.TAG_NAME, "svg").is_displayed()
    # One sample every 10 s; a throughput point needs two samples (a rate): wait for one.
    deadline = time.time() + 60
    while int(chart.get_attribute("data-points")) < 1 and time.time() < deadline:
        time.sleep(2)
        browser.refresh()
        chart = browser.find_element(By.ID, "throughput")
    assert int(chart.get_attribute("data-points")) >= 1
    assert chart.find_elements(By.TAG_NAME, "polyline") or chart.find_elements(By.TAG_NAME, "circle")
    assert float(chart.get_attribute("data-last") or "0") >= 0


def post(url, fields):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_trace_page_shows_client_trace_records(broker, browser, shot):
    msg_id = send_via_form(browser, broker.console, "ConsoleT", "traced")
    browser.get(broker.console + "/trace?id=" + msg_id)
    assert "No trace records" in browser.find_element(By.ID, "no-trace").text
    # Trace records as the clients write them (fields split by \x01, records by \x02), stored in
    # the trace topic with the message id as a key.
    now = int(time.time() * 1000)
    pub = ["Pub", str(now), "DefaultRegion", "console_pg", "ConsoleT", msg_id, "", "", "127.0.0.1:10911", "6", "2", "0", "OFFSETID", "true", "10.1.2.3"]
    sub = ["SubAfter", "req-1", msg_id, "9", "true", "", "0", str(now + 50), "console_cg"]
    body = "\x01".join(pub) + "\x02" + "\x01".join(sub) + "\x02"
    status, _ = post(broker.console + "/send", {"topic": "RMQ_SYS_TRACE_TOPIC", "keys": msg_id, "body": body})
    assert status == 200
    browser.get(broker.console + "/trace?id=" + msg_id)
    rows = browser.find_elements(By.CSS_SELECTOR, "#trace tr.record")
    assert [r.get_attribute("data-kind") for r in rows] == ["Pub", "SubAfter"]
    cells = [c.text for c in rows[1].find_elements(By.TAG_NAME, "td")]
    assert cells[2] == "console_cg" and cells[4] == "9" and cells[5] == "true"
    assert rows[0].find_elements(By.TAG_NAME, "td")[3].text == "10.1.2.3"
    shot("trace")


def test_read_only_console_refuses_changes(read_only_broker, browser):
    c = read_only_broker.console
    browser.get(c + "/send")
    assert not browser.find_elements(By.ID, "send")
    assert "read-only" in browser.find_element(By.TAG_NAME, "main").text
    browser.get(c + "/group?name=anything")
    assert not browser.find_elements(By.ID, "reset")
    # A hand-made POST is refused too, and stores nothing.
    status, page = post(c + "/send", {"topic": "RoT", "body": "x"})
    assert status == 403 and "read-only" in page
    status, _ = post(c + "/group/reset", {"group": "g", "topic": "RoT", "time": "0", "confirm": "yes"})
    assert status == 403
    browser.get(c + "/topic?name=RoT")
    assert int(browser.find_element(By.CSS_SELECTOR, "#queues td.max").text) == 0


def test_cross_site_post_is_refused(broker):
    data = urllib.parse.urlencode({"topic": "ConsoleT", "body": "csrf"}).encode()
    req = urllib.request.Request(broker.console + "/send", data=data, headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.urlopen(req, timeout=10)
        assert False, "accepted"
    except urllib.error.HTTPError as e:
        assert e.code == 403


def test_console_is_read_only_under_acl(acl_broker, browser):
    c = acl_broker.console
    browser.get(c + "/topics")
    assert "AclT" in [r.get_attribute("data-topic") for r in browser.find_elements(By.CSS_SELECTOR, "#topics tr[data-topic]")]
    browser.get(c + "/send")
    assert not browser.find_elements(By.ID, "send")
    assert "aclEnable" in browser.find_element(By.TAG_NAME, "main").text
    status, _ = post(c + "/send", {"topic": "AclT", "body": "unsigned"})
    assert status == 403
    browser.get(c + "/topic?name=AclT")
    assert int(browser.find_element(By.CSS_SELECTOR, "#queues td.max").text) == 0
