#!/usr/bin/env python3
"""The web client in a real browser (Debian's headless Chromium through its
chromedriver), against two clustered `chatty server`s on loopback that
tests/browser.rs started. Every page comes from those servers; Chromium's
background networking is off. Every wait has a deadline.

Scenarios, in one run so Chromium starts only three times:
  1. Ann (browser, server A), Bob (browser, server B) and a terminal client
     (server B) chat across the two servers.
  2. A private message from Ann is seen by Bob only.
  3. `<img src=x onerror=alert(1)>` as the terminal client's name, message
     and topic shows as text in both browsers.
  4. Server A is killed (SIGKILL) while Ann keeps sending: her page fails
     over to B with nothing missed or shown twice, on every side.
  5. The cluster view on B shows A removed within 2 s of the kill.
  6. A scripted server (tests/browser/fake_web.rs) sends a page lines
     whose (from, cid) it showed already, under new ids, with cids beyond
     2^53, in a room and privately: each is shown once, neighbouring cids
     apart; the page's own lines numbered twice are shown once; the
     failover order after a 211 is the next server (failover.js); a ping's nonce comes back exact; a
     large room's live count (room_count) shows in the sidebar.
Prints `ok: …` per step; exits non-zero with the reason on failure.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

XSS = "<img src=x onerror=alert(1)>"
DEADLINE = 15.0


def step(text):
    print("ok: " + text, flush=True)


def wait(what, predicate, deadline=DEADLINE, every=0.05):
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(every)


def browser(args, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--no-default-browser-check",
        "--window-size=1100,680",
        "--user-data-dir=" + profile,
    ]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)


def lines(driver, conv):
    """(from, text) of every chat line in a conversation, in order."""
    return driver.execute_script(
        """
        const log = document.querySelector('#logs .log[data-conv="' + arguments[0] + '"]');
        if (!log) return [];
        return [...log.querySelectorAll('.line.msg, .line.action, .line.history')].map((row) => {
          const from = row.querySelector('.from');
          return [from ? from.textContent : '', row.querySelector('.text').textContent];
        });
        """,
        conv,
    )


def texts(driver, conv):
    return [t for _, t in lines(driver, conv)]


def errors(driver):
    """The text of every error line, in any conversation."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#logs .line.error')].map((row) => row.textContent)")


def enter(driver, web, name):
    driver.get("http://" + web + "/")
    box = wait("the name box", lambda: driver.find_element(By.ID, "name"))
    box.send_keys(name)
    box.submit()
    wait(name + " in the chat", lambda: driver.find_element(By.ID, "chat").is_displayed())


def say(driver, text):
    box = driver.find_element(By.ID, "say")
    box.send_keys(text)
    box.submit()


class Terminal:
    """The real terminal client, piped: its output lines collected."""

    def __init__(self, chatty, addr, name):
        self.proc = subprocess.Popen(
            [chatty, "client", addr, "--name", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line.rstrip("\n"))

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def has(self, line):
        return line in self.out

    def close(self):
        try:
            self.say("exit")
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


def no_markup_ran(driver):
    try:
        driver.switch_to.alert
        raise AssertionError("an alert opened: markup from the network ran")
    except NoAlertPresentException:
        pass
    images = driver.execute_script("return document.querySelectorAll('img').length")
    assert images == 0, "an <img> element was made from network text"


def main():
    parser = argparse.ArgumentParser()
    for flag in ["chatty", "chromium", "chromedriver", "a-client", "a-web", "b-client", "b-web", "shots",
                 "fake-web", "fake-lines", "fake-count", "fake-private"]:
        parser.add_argument("--" + flag, required=True)
    parser.add_argument("--a-pid", type=int, required=True)
    args = parser.parse_args()
    profiles = tempfile.TemporaryDirectory()
    drivers = []
    term = None
    try:
        ann = browser(args, os.path.join(profiles.name, "ann"))
        drivers.append(ann)
        bob = browser(args, os.path.join(profiles.name, "bob"))
        drivers.append(bob)
        enter(ann, args.a_web, "Ann")
        enter(bob, args.b_web, "Bob")
        term = Terminal(args.chatty, args.b_client, XSS)
        wait("the terminal client in Ann's member list", lambda: XSS in ann.find_element(By.ID, "member-list").text)

        # 1. Chat across two servers.
        say(ann, "hello from Ann")
        wait("Ann's line at Bob", lambda: "hello from Ann" in texts(bob, "#lobby"))
        wait("Ann's line at the terminal", lambda: term.has("[Ann] hello from Ann"))
        say(bob, "hello from Bob")
        wait("Bob's line at Ann", lambda: "hello from Bob" in texts(ann, "#lobby"))
        wait("Bob's line at the terminal", lambda: term.has("[Bob] hello from Bob"))
        term.say("hello from the terminal")
        wait("the terminal's line at Ann", lambda: "hello from the terminal" in texts(ann, "#lobby"))
        wait("the terminal's line at Bob", lambda: "hello from the terminal" in texts(bob, "#lobby"))
        step("two browsers and a terminal client chat across two servers")

        # 2. A private message.
        say(ann, "/msg Bob a secret for Bob")
        wait("the PM at Bob", lambda: "a secret for Bob" in texts(bob, "@Ann"))
        wait("the PM's echo at Ann", lambda: "a secret for Bob" in texts(ann, "@Bob"))
        assert "a secret for Bob" not in texts(bob, "#lobby")
        badge = wait("an unread badge on Bob's PM", lambda: bob.execute_script(
            "const b = document.querySelector('button[data-conv=\"@Ann\"] .badge'); return b && b.textContent"))
        assert badge == "1", badge

        # Rooms: history on entering, members, unread counts.
        say(bob, "/join #dev")
        wait("Bob in #dev", lambda: bob.find_element(By.ID, "conv-title").text == "#dev")
        say(bob, "/topic release on friday")
        say(bob, "first in dev")
        wait("Bob's line in #dev", lambda: "first in dev" in texts(bob, "#dev"))
        say(ann, "/join #dev")
        wait("#dev's history at Ann", lambda: "first in dev" in texts(ann, "#dev"))
        wait("#dev's topic at Ann", lambda: ann.find_element(By.ID, "topic").text == "release on friday")
        wait("Bob among #dev's members", lambda: "Bob" in ann.find_element(By.ID, "member-list").text)
        ann.find_element(By.CSS_SELECTOR, 'button[data-conv="#lobby"]').click()
        say(bob, "second in dev")
        unread = wait("an unread count on #dev at Ann", lambda: ann.execute_script(
            "const b = document.querySelector('button[data-conv=\"#dev\"] .badge'); return b && b.textContent"))
        assert unread == "1", unread
        step("rooms: history on entering, topic, members, unread counts")

        # 3. Markup as a name, a message and a topic.
        term.say(XSS)
        term.say("/topic #lobby " + XSS)
        for driver in (ann, bob):
            driver.find_element(By.CSS_SELECTOR, 'button[data-conv="#lobby"]').click()
            wait("the markup as text", lambda: (XSS, XSS) in [tuple(l) for l in lines(driver, "#lobby")])
            wait("the topic as text", lambda: driver.find_element(By.ID, "topic").text == XSS)
            no_markup_ran(driver)
        step("markup as a name, a message and a topic shows as text")

        # Lines of Bob's that mention Ann are highlighted at Ann.
        say(bob, "Ann: are you there?")
        wait("a highlighted mention", lambda: ann.execute_script(
            "return [...document.querySelectorAll('.line.mention .text')].some(t => t.textContent === 'Ann: are you there?')"))
        say(ann, "/me waves at everyone")
        wait("the action at Bob", lambda: "* Ann waves at everyone" in texts(bob, "#lobby"))
        ann.save_screenshot(os.path.join(args.shots, "chat.png"))

        # 5 (set up). The cluster view on B, before the kill.
        view = browser(args, os.path.join(profiles.name, "view"))
        drivers.append(view)
        view.get("http://" + args.b_web + "/cluster")
        a_row = '#servers tr[data-state] td:nth-child(3)'
        wait("server A alive in the cluster view", lambda: view.execute_script(
            "return [...document.querySelectorAll('#servers tr')].some(r => r.dataset.state === 'alive' && r.children[2].textContent === arguments[0])",
            args.a_client))

        # 4. Kill A while Ann keeps sending.
        ann.execute_script(
            """
            const banner = document.getElementById('banner');
            window.bannerSeen = [];
            new MutationObserver(() => { if (!banner.hidden) window.bannerSeen.push(banner.textContent); })
              .observe(banner, { attributes: true, childList: true, characterData: true, subtree: true });
            window.sent = 0;
            window.sender = setInterval(() => {
              window.sent++;
              window.chattyLine('count ' + window.sent);
              if (window.sent === 40) clearInterval(window.sender);
            }, 120);
            """
        )
        wait("Ann's first lines", lambda: ann.execute_script("return window.sent") >= 12)
        kill_ms = ann.execute_script("return Date.now()")
        os.kill(args.a_pid, signal.SIGKILL)
        killed = time.monotonic()
        bob.execute_script(
            """
            let k = 0;
            const sender = setInterval(() => {
              k++;
              window.chattyLine('while A is down ' + k);
              if (k === 10) clearInterval(sender);
            }, 100);
            """
        )
        removed = wait("server A removed in the cluster view", lambda: view.execute_script(
            "return [...document.querySelectorAll('#servers tr')].some(r => r.dataset.state === 'removed' && r.children[2].textContent === arguments[0])",
            args.a_client), deadline=5, every=0.02) and time.monotonic() - killed
        assert removed < 2.0, "server A removed after %.2f s" % removed
        step("the cluster view shows the killed server removed after %.2f s" % removed)
        view.save_screenshot(os.path.join(args.shots, "cluster.png"))

        want = ["count %d" % n for n in range(1, 41)]
        bob_want = ["while A is down %d" % k for k in range(1, 11)]

        def counts(driver):
            return [t for t in texts(driver, "#lobby") if t.startswith("count ")]

        try:
            wait("every line of Ann's at Bob", lambda: len(counts(bob)) >= 40, deadline=25)
        except AssertionError:
            print("Ann:", ann.execute_script(
                "const s = window.chatty.state; return JSON.stringify({host: s.host, web: s.web, joined: s.joined, "
                "banner: document.getElementById('banner').textContent, outbox: window.chatty.outbox.entries.length, "
                "sent: window.sent, lobby: [...document.querySelectorAll('#logs .line')].slice(-15).map(l => l.textContent)})"))
            print("Bob counts:", counts(bob))
            raise
        wait("every line of Ann's on her own page", lambda: len(counts(ann)) >= 40, deadline=10)
        wait("Bob's lines at Ann", lambda: all(t in texts(ann, "#lobby") for t in bob_want), deadline=10)
        wait("Ann's lines at the terminal", lambda: all(("[Ann] " + w) in term.out for w in want), deadline=10)
        time.sleep(1.5)  # anything shown twice would have arrived by now
        assert sorted(counts(bob)) == sorted(want), counts(bob)
        assert sorted(counts(ann)) == sorted(want), counts(ann)
        for w in bob_want:
            assert texts(ann, "#lobby").count(w) == 1, (w, texts(ann, "#lobby"))
        term_counts = [l for l in term.out if l.startswith("[Ann] count ")]
        assert sorted(term_counts) == sorted("[Ann] " + w for w in want), term_counts
        banner = ann.execute_script("return window.bannerSeen")
        assert any("reconnecting" in b.lower() for b in banner), "no banner while reconnecting: %r" % banner
        assert ann.find_element(By.ID, "banner").is_displayed() is False
        assert args.b_web in ann.find_element(By.ID, "me-server").text
        rejoined_ms = ann.execute_script("return window.chatty.state.joinedAt") - kill_ms
        step("the page failed over to B in %d ms (SIGKILL to welcome): 40 lines sent across the kill, "
             "each shown once everywhere" % rejoined_ms)

        # A nick change after the failover reaches the others.
        say(ann, "/nick Anna")
        wait("the nick change at Bob", lambda: "Ann is now Anna" in bob.find_element(By.CSS_SELECTOR, '#logs .log[data-conv="#lobby"]').text)
        wait("the nick change at the terminal", lambda: term.has("[NICK] Ann is now Anna"))
        say(ann, "still here as Anna")
        wait("Anna's line at Bob", lambda: ("Anna", "still here as Anna") in [tuple(l) for l in lines(bob, "#lobby")])
        step("a nick change after the failover")

        # Right after a rejoin, a 211 is most likely our own old membership,
        # relayed by the lost server just before it died (PROTOCOL.md 11):
        # the page joins again instead of showing the name as lost.
        before = ann.execute_script("return window.chatty.state.joinedAt")
        ann.execute_script(
            "window.chatty.state.rejoinedAt = Date.now();"
            "receive({type: 'error', code: 211, fatal: false, text: 'someone on another server took this name "
            "at the same moment; choose another name and join again'});")
        wait("Anna welcomed again", lambda: ann.execute_script(
            "return window.chatty.state.joined && window.chatty.state.joinedAt > arguments[0]", before), deadline=10)
        say(ann, "back after my own ghost")
        wait("Anna's line after the ghost at Bob",
             lambda: ("Anna", "back after my own ghost") in [tuple(l) for l in lines(bob, "#lobby")])
        assert errors(ann) == [], errors(ann)
        # ...but a /nick refused right after a rejoin is only that.
        before = ann.execute_script("return window.chatty.state.joinedAt")
        ann.execute_script("window.chatty.state.rejoinedAt = Date.now();")
        say(ann, "/nick Bob")
        wait("the refused nick", lambda: errors(ann))
        assert ann.execute_script("return window.chatty.state.joinedAt") == before, "the page failed over"
        step("a name taken back right after a rejoin: the page joins again; a refused /nick does not")

        # The terminal client never saw the private message.
        assert not any("a secret for Bob" in l for l in term.out), term.out
        step("a private message is seen only by its target")

        # 6. Lines repeated under new ids, from a scripted server.
        want = [tuple(l) for l in json.loads(args.fake_lines)]
        enter(view, args.fake_web, "Dee")
        wait("the fake's last line", lambda: want[-1] in [tuple(l) for l in lines(view, "#lobby")])
        # Frames come in order: the last line's arrival means every repeat came before it.
        assert [tuple(l) for l in lines(view, "#lobby")] == want, lines(view, "#lobby")
        private = json.loads(args.fake_private)
        assert texts(view, "@Cy") == private, texts(view, "@Cy")
        sidebar = view.find_element(By.ID, "member-list").text
        assert args.fake_count + " members (large room" in sidebar, sidebar
        say(view, "my own line")
        say(view, "my second line")
        wait("Dee's second line", lambda: ("Dee", "my second line") in [tuple(l) for l in lines(view, "#lobby")])
        assert [tuple(l) for l in lines(view, "#lobby")] == want + [("Dee", "my own line"), ("Dee", "my second line")], \
            lines(view, "#lobby")
        states = view.execute_script("return window.chatty.outbox.entries.map((e) => e.state)")
        assert states and all(s == "acked" for s in states), states
        # The page's own private lines, each echoed twice under two ids:
        # once on screen. The second line's echo comes after the first's
        # repeat.
        for text in ["my private line", "my last line"]:
            say(view, "/msg Cy " + text)
            wait("Dee's " + text, lambda: text in texts(view, "@Cy"))
        assert texts(view, "@Cy") == private + ["my private line", "my last line"], texts(view, "@Cy")
        # The failover order (failover.js): after a 211, the next server at
        # once, not the same again; a round with a 211 waits ~150 ms, one
        # without backs off from 100 ms.
        tries = view.execute_script(
            """
            const f = new window.chatty.Failover(1);
            f.begin("a", 0);
            const web = ["a", "b", "c"];
            const tries = [f.next(web, false, 0.5), f.next(web, true, 0.5), f.next(web, true, 0.5),
                           f.next(web, false, 0.5), f.next(web, false, 0.5), f.next(web, false, 0.5),
                           f.next(web, false, 0.5)];
            return tries.map((t) => t.host + "@" + Math.round(t.delay));
            """)
        assert tries == ["c@0", "b@0", "a@0", "c@150", "b@0", "a@0", "c@100"], tries
        window = view.execute_script(
            """
            const S = window.chatty.SeenLines;
            const s = new S(2);
            s.add("Cy", 1n); s.add("Cy", 2); s.add("Cy", 3n);
            return [new S().limit, s.has("Cy", 1), s.has("cy", 2n), s.has("CY", 3), s.has("Cy", 0)];
            """)
        assert window == [4096, False, True, True, False], window
        step("lines repeated under new ids are shown once, private ones too (cids beyond 2^53); "
             "the pong's nonce is exact; a 211 moves the failover on to the next server")

        bob.execute_script("document.querySelector('button[data-conv=\"#lobby\"]').click()")
        bob.save_screenshot(os.path.join(args.shots, "chat-after-failover.png"))
        ann.set_window_size(390, 760)
        ann.save_screenshot(os.path.join(args.shots, "chat-phone.png"))
        no_markup_ran(ann)
        no_markup_ran(bob)
    finally:
        if term:
            term.close()
        for driver in drivers:
            try:
                driver.quit()
            except Exception:
                pass
        profiles.cleanup()
    print("browser: all scenarios passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print("FAILED: %s" % err, flush=True)
        sys.exit(1)
