"""HAProxy's dumps parsed (output captured from HAProxy 2.6.12, Debian 12), the readiness rule, and the run logic
through its seams (a scripted HAProxy, a fake clock)."""
import csv
import io

import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _haproxy as haproxy
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

# backend app: web1's /readyz answers 503, web2 drained (then in MAINT, then just out of it), nothing listens on
# web3's port, nocheck has no `check`.
STATE_HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
                "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
                "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
                "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n")
STATE_ROWS = {
    "web1": "3 app 1 web1 127.0.0.1 0 0 1 1 2 17 2 0 6 0 0 0 - 18081 - 0 0 - - 0",
    "web2": "3 app 2 web2 127.0.0.1 2 8 1 1 0 15 3 3 6 0 0 0 - 18082 - 0 0 - - 0",
    "web3": "3 app 3 web3 127.0.0.1 0 0 1 1 2 8 2 0 6 0 0 0 - 18084 - 0 0 - - 0",
    "nocheck": "3 app 4 nocheck 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0",
}
STATE_WEB2_MAINT = "3 app 2 web2 127.0.0.1 0 1 1 1 0 15 3 0 14 0 0 0 - 18082 - 0 0 - - 0"
STATE_WEB2_LEFT_MAINT = "3 app 2 web2 127.0.0.1 2 0 1 1 0 15 3 2 6 0 0 0 - 18082 - 0 0 - - 0"
STAT_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,"
    "bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,"
    "req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,"
    "rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,"
    "agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,"
    "wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,"
    "idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,"
    "agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,"
    "h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,"
    "h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,"
    "h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,"
    "h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n")
_TAIL = ",,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,"
STAT_ROWS = {
    "web1": "app,web1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,1,,0,,2,0,,0,L7STS,503,6,0,0,0,0,0,0,,,,0,0,"
            "0,,,,,-1,Service Unavailable,,0,0,0,0,,,,Layer7 wrong status,,2,2,0,,,,127.0.0.1:18081,,http,,,,,,,,0,0,"
            "0,,,0,,0,0,0,0,0,0,0,0,1,1" + _TAIL,
    "web2": "app,web2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,0,0,0,,1,3,2,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,"
            "0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:18082,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,"
            "0,0,1,1" + _TAIL,
    "web3": "app,web3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,3,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,"
            ",,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,2,0,,,,127.0.0.1:18084,,http,,,,,,,,0,"
            "0,0,,,0,,0,0,0,0,0,0,0,0,1,1" + _TAIL,
    "nocheck": "app,nocheck,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,2,,,1,3,4,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,"
               ",,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18082,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1" + _TAIL,
}
STAT_WEB2_MAINT = ("app,web2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,1,0,0,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,"
                   "0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18082,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1" + _TAIL)
STAT_WEB2_LEFT_MAINT = ("app,web2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,0,1,0,0,,1,3,2,,0,,2,0,,0,L7OK,200,1,0,0,"
                        "0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,2,,,,127.0.0.1:18082,,http,,,,"
                        ",,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1" + _TAIL)


def state_dump(**rows):
    return STATE_HEADER + "".join(row + "\n" for row in dict(STATE_ROWS, **rows).values()) + "\n"


def stat_dump(**rows):
    return STAT_HEADER + "".join(row + "\n" for row in dict(STAT_ROWS, **rows).values()) + "\n"


def web2(state_row, stat_row):
    return haproxy.find(haproxy.parse_servers_state(state_dump(web2=state_row)),
                        haproxy.parse_stat(stat_dump(web2=stat_row)), "app", "web2")


def test_servers_state_dump():
    rows = haproxy.parse_servers_state(state_dump())
    assert [(r["be_name"], r["srv_name"], r["srv_op_state"], r["srv_admin_state"]) for r in rows] == [
        ("app", "web1", "0", "0"), ("app", "web2", "2", "8"), ("app", "web3", "0", "0"), ("app", "nocheck", "2", "0")]
    assert rows[0]["srv_port"] == "18081" and rows[0]["srv_agent_port"] == "0"


def test_stat_csv():
    rows = haproxy.parse_stat(stat_dump())
    assert [(r["svname"], r["status"], r["check_status"], r["check_code"]) for r in rows] == [
        ("web1", "DOWN", "L7STS", "503"), ("web2", "DRAIN", "L7OK", "200"), ("web3", "DOWN", "L4CON", None),
        ("nocheck", "no check", None, None)]
    assert rows[0]["last_chk"] == "Service Unavailable" and rows[0]["check_desc"] == "Layer7 wrong status"
    assert "" not in rows[0]  # the header's trailing comma names no field


@pytest.mark.parametrize("server, expected", [
    ("web1", {"admin": "READY", "operational": "DOWN", "status": "DOWN", "check_status": "L7STS", "check_code": 503,
              "check_info": "Service Unavailable", "check_health": 0, "check_rise": 2, "check_fall": 2}),
    ("web2", {"admin": "DRAIN", "operational": "UP", "status": "DRAIN", "check_status": "L7OK", "check_code": 200,
              "check_health": 3, "sessions": 0, "address": "127.0.0.1:18082"}),
    ("web3", {"admin": "READY", "operational": "DOWN", "check_status": "L4CON", "check_code": None,
              "check_info": "Connection refused", "check_desc": "Layer4 connection problem"}),
    ("nocheck", {"admin": "READY", "operational": "UP", "status": "no check", "check_enabled": False,
                 "check_status": None, "check_rise": None}),
], ids=["503-is-down", "drain", "refused-is-down", "no-check"])
def test_view(server, expected):
    view = haproxy.find(haproxy.parse_servers_state(state_dump()), haproxy.parse_stat(stat_dump()), "app", server)
    assert {key: view[key] for key in expected} == expected


def test_view_in_maint_takes_the_check_status_from_the_state_dump():
    view = web2(STATE_WEB2_MAINT, STAT_WEB2_MAINT)
    assert (view["admin"], view["operational"], view["forced_maint"]) == ("MAINT", "DOWN", True)
    # show stat hides the check in MAINT; show servers state keeps its last status (15: L7OK) and health 0
    assert (view["check_status"], view["check_health"], view["check_rise"], view["check_fall"]) == ("L7OK", 0, None,
                                                                                                    None)
    assert not haproxy.proven(view)


def test_just_out_of_maint_is_up_but_not_proven():
    """What HAProxy 2.6 shows right after `set server app/web2 state ready`: UP 1/2, the check status of the
    check before MAINT, health reset to rise. No check ran yet: not ready."""
    view = web2(STATE_WEB2_LEFT_MAINT, STAT_WEB2_LEFT_MAINT)
    assert (view["admin"], view["operational"], view["status"]) == ("READY", "UP", "UP 1/2")
    assert (view["check_status"], view["check_health"], view["check_rise"]) == ("L7OK", 2, 2)
    assert not haproxy.proven(view)
    assert haproxy.proven(dict(view, check_health=3))  # the next check passed


@pytest.mark.parametrize("changes, trust_up, expected", [
    ({}, True, True),
    ({"check_health": 2}, True, False),
    ({"operational": "DOWN", "check_health": 0}, True, False),
    ({"operational": "STARTING"}, True, True),
    ({"operational": "STOPPING"}, True, False),
    ({"admin": "DRAIN"}, True, False),
    ({"admin": "MAINT"}, True, False),
    ({"check_enabled": False}, True, False),
    ({"check_fall": 1, "check_health": 2}, True, True),
    ({"check_fall": 1, "check_health": 2}, False, False),
], ids=["full-health", "health-at-rise", "down", "slowstart", "stopping-404", "drain", "maint", "no-check",
        "fall-1-trusted", "fall-1-just-out-of-maint"])
def test_proven(changes, trust_up, expected):
    server = dict(admin="READY", operational="UP", check_enabled=True, check_health=3, check_rise=2, check_fall=2)
    assert haproxy.proven(dict(server, **changes), trust_up) is expected


def test_a_running_check_is_marked():
    """web1 while its check runs, as HAProxy 2.6 showed it when polled (`* L7STS`, code 0, no information)."""
    running = STAT_ROWS["web1"].replace("L7STS,503,6,", "* L7STS,0,1,").replace(",Service Unavailable,", ",,")
    view = haproxy.find(haproxy.parse_servers_state(state_dump()), haproxy.parse_stat(stat_dump(web1=running)),
                        "app", "web1")
    assert (view["check_status"], view["check_running"], view["check_code"], view["check_info"]) == (
        "L7STS", True, None, None)


def test_describe_names_haproxys_check():
    view = haproxy.find(haproxy.parse_servers_state(state_dump()), haproxy.parse_stat(stat_dump()), "app", "web1")
    assert haproxy.describe(view) == ("DOWN, check L7STS 503 (Layer7 wrong status: Service Unavailable), health 0/3, "
                                      "0 sessions")
    assert haproxy.describe(web2(STATE_WEB2_MAINT, STAT_WEB2_MAINT)) == "MAINT DOWN, check L7OK, 0 sessions"


@pytest.mark.parametrize("parse, text", [
    (haproxy.parse_servers_state, "Unknown command.\n"),
    (haproxy.parse_servers_state, ""),
    (haproxy.parse_stat, "Permission denied\n"),
    (haproxy.parse_stat, "No such proxy.\n\n"),
], ids=["state-unknown-command", "state-empty", "stat-denied", "stat-no-proxy"])
def test_what_is_not_a_dump_is_refused(parse, text):
    with pytest.raises(OpsreadyError, match="unexpected answer"):
        parse(text)


def test_unknown_server_lists_the_backends_servers():
    with pytest.raises(OpsreadyError, match="server web9 is not in backend app; its servers: web1, web2, web3, nocheck"):
        haproxy.find(haproxy.parse_servers_state(state_dump()), haproxy.parse_stat(stat_dump()), "app", "web9")


def test_backends():
    assert haproxy.parse_backends("# name\napp\nstatic\n\n") == ["app", "static"]


def test_probe(closed_port):
    reason = haproxy.refused("127.0.0.1:%d" % closed_port, 1)
    assert reason.startswith("its address 127.0.0.1:%d takes no connection" % closed_port)
    assert haproxy.refused("127.0.0.1", 1) is None  # no port: nothing to probe


# --- The run, through its seams: a scripted HAProxy and a clock that moves only when the run sleeps ---------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Scripted:
    """HAProxy for server app/web2: answers `show` from its fields, applies `set server`; `tick` moves it on each
    read of `show stat` (what its checks or sessions do meanwhile)."""

    def __init__(self, tick=None, **fields):
        self.fields = dict(dict(op=2, admin=0, health=3, rise=2, fall=2, scur=0, check="L7OK", code="200"), **fields)
        self.tick, self.sent = tick or (lambda fields: None), []

    def __call__(self, command, deadline):
        self.sent.append(command)
        f = self.fields
        if command.startswith("show servers state"):
            return state_dump(web2="3 app 2 web2 127.0.0.1 %d %d 1 1 0 15 3 %d %d 0 0 0 - 18082 - 0 0 - - 0" % (
                f["op"], f["admin"], f["health"], 14 if f["admin"] & 1 else 6))
        if command.startswith("show stat"):
            self.tick(f)
            row = next(csv.DictReader(io.StringIO(STAT_HEADER[2:] + STAT_ROWS["web2"])))
            row.update(scur=str(f["scur"]), check_status=f["check"], check_code=f["code"], check_rise=str(f["rise"]),
                       check_fall=str(f["fall"]), check_health=str(f["health"]))
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(row.values())
            return stat_dump(web2=out.getvalue().rstrip("\n"))
        what = command.split(" ", 3)[3]
        leaving_maint = f["admin"] & 1 and what in ("state drain", "state ready")
        f["admin"] = {"state maint": 1, "state drain": 8, "state ready": 0}.get(what, f["admin"])
        if leaving_maint:
            f["op"], f["health"] = 2, f["rise"]  # HAProxy: "start OK but check immediately"
        if what == "health down":
            f["op"], f["health"] = 0, 0
        return "\n"


def params(tmp_path, **changes):
    import socket

    path = str(tmp_path / "admin.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)  # validate() wants a socket file; the scripted HAProxy answers instead
    sock.close()
    return dict(dict(socket=path, backend="app", server="web2", state="ready", wait_timeout=10.0,
                     drain_timeout=5.0, state_file=None, on_fail="maint"), **changes)


def run(tmp_path, fake, clock, check_mode=False, probe=lambda address, timeout: None, **changes):
    return haproxy.apply(params(tmp_path, **changes), check_mode, ask=fake, clock=clock, sleep=clock.sleep,
                         probe=probe)


def test_drain_that_never_empties_goes_to_maint_after_drain_timeout(tmp_path):
    clock, fake = Clock(), Scripted(scur=3)
    result = run(tmp_path, fake, clock, state="drained")
    assert result["commands"] == ["set server app/web2 state drain", "set server app/web2 state maint"]
    assert result["msg"] == "app/web2 drained: DRAIN, then MAINT; 3 sessions still open after 5 s (drain_timeout 5 s)"
    assert result["elapsed"] == 5.0 and result["after"]["admin"] == "MAINT"


def test_drain_is_bounded_by_wait_timeout_too(tmp_path):
    clock, fake = Clock(), Scripted(scur=1)
    result = run(tmp_path, fake, clock, state="drained", drain_timeout=30.0, wait_timeout=2.0)
    assert result["elapsed"] == 2.0 and result["after"]["admin"] == "MAINT"


def test_drain_ends_when_the_sessions_do(tmp_path):
    def tick(fields):
        fields["scur"] = max(0, fields["scur"] - 1)

    clock, fake = Clock(), Scripted(scur=3, tick=tick)
    result = run(tmp_path, fake, clock, state="drained")
    assert result["msg"].startswith("app/web2 drained: DRAIN, then MAINT; no session left after")
    assert result["elapsed"] < 1


def test_drain_of_a_refusing_address_is_maint_at_once(tmp_path):
    clock, fake = Clock(), Scripted(scur=2)
    result = run(tmp_path, fake, clock, state="drained", probe=lambda address, timeout: "its address %s is gone"
                 % address)
    assert result["commands"] == ["set server app/web2 state maint"]
    assert result["msg"] == "app/web2 put in MAINT at once: its address 127.0.0.1:18082 is gone"


def test_fall_1_is_set_down_after_leaving_maint_then_proven_by_the_check(tmp_path):
    def tick(fields):  # each check passes; with fall 1 the health never goes above rise
        if fields["admin"] in (0, 8) and fields["health"] < fields["rise"]:
            fields["health"] += 1
            fields["op"] = 2 if fields["health"] >= fields["rise"] else 0

    clock, fake = Clock(), Scripted(admin=1, op=0, health=0, fall=1, tick=tick)
    result = run(tmp_path, fake, clock)
    assert result["commands"] == ["set server app/web2 state drain", "set server app/web2 health down",
                                  "set server app/web2 state ready"]
    assert result["after"]["operational"] == "UP" and result["changed"]


def test_fall_1_that_fails_its_check_is_not_ready(tmp_path):
    clock, fake = Clock(), Scripted(admin=1, op=0, health=0, fall=1, check="L7STS", code="503")
    with pytest.raises(OpsreadyError) as error:
        run(tmp_path, fake, clock, wait_timeout=3.0)
    assert "did not pass HAProxy's health check within 3 s: DRAIN DOWN, check L7STS 503" in str(error.value)
    assert error.value.result["commands"] == ["set server app/web2 state drain", "set server app/web2 health down",
                                              "set server app/web2 state maint"]


def test_ready_on_fail_leave_fails_and_leaves_it(tmp_path):
    clock, fake = Clock(), Scripted(admin=1, op=0, health=0,
                                    tick=lambda f: f.update(op=0, health=0, check="L4CON", code=""))
    with pytest.raises(OpsreadyError) as error:
        run(tmp_path, fake, clock, wait_timeout=3.0, on_fail="leave")
    assert str(error.value).endswith("; left READY (on_fail=leave)")
    assert error.value.result["commands"] == ["set server app/web2 state drain", "set server app/web2 state ready"]
    assert error.value.result["elapsed"] == 3.0


def test_ready_already_proven_reads_once(tmp_path):
    clock, fake = Clock(), Scripted()
    result = run(tmp_path, fake, clock)
    assert (result["changed"], result["commands"], result["elapsed"]) == (False, [], 0.0)
    assert fake.sent == ["show servers state app", "show stat app 4 -1"]


def test_check_mode_only_reads(tmp_path):
    clock, fake = Clock(), Scripted(admin=1, op=0, health=0)
    result = run(tmp_path, fake, clock, check_mode=True)
    assert result["changed"] and result["commands"] == [] and all(c.startswith("show") for c in fake.sent)
    assert result["diff"] == {"before": "app/web2 admin: MAINT\napp/web2 operational: DOWN\n",
                              "after": "app/web2 admin: READY\napp/web2 operational: UP\n"}
