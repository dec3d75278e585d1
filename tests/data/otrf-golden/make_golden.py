#!/usr/bin/env python3
"""Writes the golden expectations for the OTRF Security-Datasets recordings.

How the expected event ids are chosen (by the attack's semantics, never by xdrflow's output):
for each recording a reviewer names the attack's ROOT processes (the first process the attack
started on a host, e.g. wscript running launcher.vbs) and any non-process records that are
part of it (the network logon and the service install of smbexec). The ATTACK TREE is the
roots and every process descending from them by ParentProcessGuid.

- must_include: the process-creation records of the attack tree, the tree's connections to
  the attacker's server, and the named non-process records. An incident that misses one of
  these failed to rebuild the attack.
- allowed: must_include plus every record that names a tree process (its image loads,
  process accesses, file writes, DNS, PowerShell logging, other connections), the creation
  records of the roots' ancestors (context: who started the attack), and records of the
  logon sessions the tree ran in. Records outside this set are the host's background; an
  incident may hold at most max_background of them.

Event ids come from `xdrflow decode`, so they are exactly the stable ids the engine assigns
(Windows: host|channel|record number; content hash where a record has no number).

Usage: make_golden.py XDRFLOW_BINARY OTRF_DIR OUT_DIR
"""
import json
import os
import subprocess
import sys

C2 = {"10.10.10.5"}

# dataset -> how to find the roots (all conditions on the normalized fields must hold) and
# extra records, plus how many background records an incident may hold.
DATASETS = {
    "atomic_windows_execution_host_empire_launcher_vbs.zip": {
        "what": "explorer -> wscript launcher.vbs -> powershell -enc -> C2 10.10.10.5",
        "roots": [{"EventID": "1", "Image~": "wscript.exe", "CommandLine~": "launcher.vbs"}],
        "extra": [],
        "max_background": 5,
    },
    "atomic_windows_lateral_movement_host_empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip": {
        "what": "WORKSTATION5 -> WMI -> WmiPrvSE -> powershell -enc on WORKSTATION6 -> C2",
        "roots": [{"EventID": "1", "Image~": "powershell.exe", "ParentImage~": "wmiprvse.exe"}],
        "extra": [{"EventID": "4624", "LogonType": "3", "IpAddress": "172.18.39.5",
                   "TargetLogonId@": "LogonId"}],
        # the endpoint-mapper legs of the DCOM call (RPCSS on the source host): part of the
        # attack, but one of them as the evidence of the link is enough
        "allow": [{"EventID": "3", "Hostname~": "workstation5", "DestinationIp": "172.18.39.6",
                   "DestinationPort": "135"}],
        "sources": [{"EventID": "3", "Hostname~": "workstation5", "Image~": "powershell.exe",
                     "DestinationIp": "172.18.39.6"}],
        "max_background": 10,
    },
    "atomic_windows_defense_evasion_host_empire_launcher_sct_regsvr32.zip": {
        "what": "powershell -> regsvr32 /i:http://10.10.10.5:8444/launcher.sct scrobj.dll -> powershell",
        "roots": [{"EventID": "1", "Image~": "regsvr32.exe", "CommandLine~": "/i:http"}],
        "extra": [],
        "max_background": 5,
    },
    "atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.zip": {
        "what": "logon from 172.18.39.5, service install running cmd/powershell, services -> cmd -> powershell",
        "roots": [{"EventID": "1", "Image~": "cmd.exe", "ParentImage~": "services.exe"}],
        "extra": [{"EventID": "4624", "LogonType": "3", "IpAddress": "172.18.39.5",
                   "Hostname~": "workstation6"},
                  {"EventID": "7045", "ImagePath~": "powershell"},
                  {"EventID": "4697", "ImagePath~": "powershell"}],
        "sources": [{"EventID": "3", "Hostname~": "workstation5", "Image~": "powershell.exe",
                     "DestinationIp": "172.18.39.6", "DestinationPort": "445"}],
        "max_background": 10,
    },
    "atomic_windows_defense_evasion_host_cmd_bitsadmin_download_psh_script.zip": {
        "what": "cmd -> bitsadmin /transfer download of a script",
        "roots": [{"EventID": "1", "Image~": "bitsadmin.exe", "CommandLine~": "/transfer"}],
        "extra": [],
        "max_background": 5,
    },
    "atomic_windows_defense_evasion_host_cmd_mshta_vbscript_execute_psh.zip": {
        "what": "cmd -> mshta vbscript:Execute -> powershell",
        "roots": [{"EventID": "1", "Image~": "mshta.exe", "CommandLine~": "vbscript:"}],
        "extra": [],
        "max_background": 5,
    },
}

GUID_FIELDS = ("ProcessGuid", "ParentProcessGuid", "SourceProcessGUID", "TargetProcessGUID")


def norm_guid(g):
    return (g or "").strip("{}").lower()


def host(ev):
    return (ev["fields"].get("Hostname") or "").split(".")[0].lower()


def matches(ev, cond, ctx=None):
    f = ev["fields"]
    for k, v in cond.items():
        if k.endswith("~"):
            if v.lower() not in (f.get(k[:-1]) or "").lower():
                return False
        elif k.endswith("@"):
            if (f.get(k[:-1]) or "").lower() not in (ctx or set()):
                return False
        elif (f.get(k) or "") != v:
            return False
    return True


def decode(xdrflow, path):
    out = subprocess.run([xdrflow, "decode", path], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def golden(events, spec):
    creates = [e for e in events if e["category"] == "process" and e["fields"].get("ProcessGuid")]
    by_guid = {(host(e), norm_guid(e["fields"]["ProcessGuid"])): e for e in creates}
    roots = [e for e in creates if any(matches(e, c) for c in spec["roots"])]
    if not roots:
        raise SystemExit(f"no root found for {spec['what']}")
    tree = {(host(e), norm_guid(e["fields"]["ProcessGuid"])) for e in roots}
    grew = True
    while grew:
        grew = False
        for e in creates:
            k = (host(e), norm_guid(e["fields"]["ProcessGuid"]))
            p = (host(e), norm_guid(e["fields"].get("ParentProcessGuid")))
            if p in tree and k not in tree:
                tree.add(k)
                grew = True
    logon_ids = {(by_guid[k]["fields"].get("LogonId") or "").lower() for k in tree if k in by_guid}
    logon_ids.discard("")
    logon_ids -= {"0x3e7", "0x3e4", "0x3e5"}
    must, allowed = set(), set()
    for e in events:
        f = e["fields"]
        guids = {(host(e), norm_guid(f.get(g))) for g in GUID_FIELDS if f.get(g)}
        mine = (host(e), norm_guid(f.get("ProcessGuid"))) in tree
        if e["category"] == "process" and mine:
            must.add(e["id"])
        if e["category"] == "network" and mine and f.get("DestinationIp") in C2:
            must.add(e["id"])
        if any(matches(e, c, logon_ids) for c in spec["extra"]):
            must.add(e["id"])
        if guids & tree:
            allowed.add(e["id"])
        if e["category"] == "logon" and (f.get("TargetLogonId") or "").lower() in logon_ids:
            allowed.add(e["id"])
    # the roots' ancestors: who started the attack
    for r in roots:
        p = (host(r), norm_guid(r["fields"].get("ParentProcessGuid")))
        seen = set()
        while p in by_guid and p not in seen:
            seen.add(p)
            allowed.add(by_guid[p]["id"])
            e = by_guid[p]
            p = (host(e), norm_guid(e["fields"].get("ParentProcessGuid")))
    sources = {(host(e), norm_guid(e["fields"].get("ProcessGuid")))
               for e in events if any(matches(e, c) for c in spec.get("sources", []))}
    for e in events:
        if any(matches(e, c) for c in spec.get("sources", [])):
            must.add(e["id"])
        if (host(e), norm_guid(e["fields"].get("ProcessGuid"))) in sources:
            allowed.add(e["id"])
        if any(matches(e, c) for c in spec.get("allow", [])):
            allowed.add(e["id"])
    allowed |= must
    return sorted(must), sorted(allowed)


def main():
    xdrflow, otrf, out = sys.argv[1:4]
    for name, spec in DATASETS.items():
        events = decode(xdrflow, os.path.join(otrf, name))
        must, allowed = golden(events, spec)
        doc = {"dataset": name, "attack": spec["what"], "records": len(events),
               "how_chosen": "see make_golden.py: roots and extras named by a reviewer; "
                             "the attack tree by ParentProcessGuid",
               "max_background": spec["max_background"], "must_include": must,
               "allowed": allowed}
        path = os.path.join(out, name.replace(".zip", ".json"))
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"{name}: {len(must)} must_include, {len(allowed)} allowed of {len(events)}")


if __name__ == "__main__":
    main()
