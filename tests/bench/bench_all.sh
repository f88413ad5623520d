# shellcheck shell=bash
# `scripts/bench all`: sourced by scripts/bench once it has started the suite (DATA, OFFSET, BIN,
# OUT, QUICK, POSTFIX, DOVECOT, RADICALE set) to run every benchmark that has a peer, one after
# the other on that one suite (starting a suite costs a minute on a busy 2-core machine; the
# benchmarks use domains and accounts of their own and leave the queue empty), each in a
# subshell with its own sizes, then tests/bench/bench_report.py for the table, the JSON and
# the chart.
#
# Sizes: chosen so that the whole run stays under 15 minutes on a 2-core machine (measured:
# docs/performance.md); --quick shrinks every one of them for trying the command out.
# Nothing here passes or fails on time; a benchmark that fails is reported and the rest go on.

bench_all() {
  local out svg dir start=$BENCH_START root=0 rc
  out=$ALL_OUT
  case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
  svg="${out%.json}.svg"
  dir="$(dirname "$out")/all"
  mkdir -p "$dir"
  rm -f "$dir"/*.json "$dir"/*.log "$dir/runs.tsv"
  [ "$(id -u)" = 0 ] && root=1

  /usr/bin/python3 "$REPO/tests/bench/bench_report.py" machine --bin "$BIN" --repo "$REPO" >"$dir/machine.json"
  say "all: $(/usr/bin/python3 "$REPO/tests/bench/bench_report.py" describe "$dir/machine.json")"
  case "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BIN")/CMakeCache.txt" 2>/dev/null)" in
    Release | RelWithDebInfo) ;;
    *) say "warning: $BIN is not a Release/RelWithDebInfo build: the figures understate Kite" ;;
  esac
  grep -q '^KITE_SANITIZE:BOOL=ON' "$(dirname "$BIN")/CMakeCache.txt" 2>/dev/null &&
    say "warning: $BIN is a sanitizer build: the figures understate Kite"

  # The peers: what can run here, and why not when not.
  local pf_opt=() dc_opt=() rad_opt=() pf_note="" dc_note="" rad_note="" smtp_note=""
  if [ "$POSTFIX" = no ]; then
    pf_opt=(POSTFIX=no); pf_note="peer not measured: --no-postfix"
  elif [ ! -x /usr/sbin/postfix ]; then
    pf_opt=(POSTFIX=no); pf_note="peer not available: postfix is not installed (scripts/install-deps)"
  elif [ $root = 0 ]; then
    pf_opt=(POSTFIX=no); pf_note="peer not available: the private Postfix needs root (its master runs as root)"
  fi
  [ -x /usr/sbin/smtp-source ] ||
    smtp_note="not run: Postfix's smtp-source (the load generator) is not installed (apt-get install postfix)"
  if [ "$DOVECOT" = no ]; then
    dc_opt=(DOVECOT=no); dc_note="peer not measured: --no-dovecot"
  elif [ $root = 0 ]; then
    dc_opt=(DOVECOT=no)
    dc_note="peer not available: the private Dovecot needs root"
    [ -x /usr/sbin/dovecot ] || dc_note+=" (and dovecot-imapd/dovecot-pop3d are not installed)"
  fi
  if [ "$RADICALE" = no ]; then
    rad_opt=(RADICALE=no); rad_note="peer not measured: --no-radicale"
  elif [ ! -x /usr/bin/radicale ] && [ $root = 0 ]; then
    rad_opt=(RADICALE=no); rad_note="peer not available: radicale is not installed (apt-get install radicale)"
  fi

  # Each benchmark's settings (scripts/bench's variables), full run or --quick.
  local smtp e2e delivery imap pop3 caldav freebusy
  if [ "$QUICK" = 1 ]; then
    smtp=(MESSAGES=200 CONCURRENCY="1,20" SIZES=4096 SCALING_REPLICAS="1,2")
    e2e=(MESSAGES=200 SESSIONS=10 SERIAL_MESSAGES=30)
    delivery=(MESSAGES=300 LIST_MESSAGES=10 LIST_MEMBERS=20 REPLICAS="1,2" CASES="single,list")
    imap=(USERS=4 MESSAGES=60 CLIENTS=10 SECONDS_EACH=1 REPLICAS="1,2" IDLE_CONNECTIONS=500 DOVECOT_IDLE=100
      LATENCY_TRIALS=5)
    pop3=(USERS=10 MESSAGES=10 CLIENTS=10 SECONDS_EACH=1)
    caldav=(CLIENTS=4 EVENTS=20 SECONDS_EACH=2)
    freebusy=(USERS=100 QUERIES=50 CLIENTS=4 SECONDS_EACH=2)
  else
    smtp=(MESSAGES=400 CONCURRENCY="1,20,100" SIZES="4096,65536" SCALING_REPLICAS="1,2")
    e2e=(MESSAGES=500 SESSIONS=20 SERIAL_MESSAGES=100)
    delivery=(MESSAGES=500 LIST_MESSAGES=10 LIST_MEMBERS=50 REPLICAS=1 CASES="single,list")
    imap=(USERS=10 MESSAGES=200 CLIENTS="10,100" SECONDS_EACH=2 REPLICAS="1,2" IDLE_CONNECTIONS=10000
      DOVECOT_IDLE=300 LATENCY_TRIALS=20)
    pop3=(USERS=50 MESSAGES=10 CLIENTS="10,50" SECONDS_EACH=2)
    caldav=(CLIENTS=10 EVENTS=50 SECONDS_EACH=3)
    freebusy=(USERS=1000 QUERIES=100 CLIENTS=4 SECONDS_EACH=3)
  fi

  # run_one NAME NOTE VAR=VALUE...: one benchmark (scripts/bench's bench_NAME) in a subshell with
  # those settings, its output to the terminal and NAME.log, its figures to NAME.json; a line in
  # runs.tsv (name, status, seconds, note). Afterwards whatever a failed run may have left
  # stopped or started is put back: kite-delivery running, no extra replica.
  run_one() {
    local name=$1 note=$2 t rc
    shift 2
    echo
    say "==== $name ($(date -u +%H:%M:%S) UTC, $((SECONDS - start)) s into the run)${note:+ -- $note}"
    t=$SECONDS
    set +e
    (
      set -e
      for kv in "$@"; do printf -v "${kv%%=*}" '%s' "${kv#*=}"; done
      # shellcheck disable=SC2034 # read by scripts/bench's bench_NAME
      GIVEN=(users messages seconds replicas)
      # shellcheck disable=SC2034
      OUT="$dir/$name.json"
      "bench_$name"
    ) 2>&1 | tee "$dir/$name.log"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 0 ]; then
      printf '%s\tok\t%s\t%s\n' "$name" $((SECONDS - t)) "$note" >>"$dir/runs.tsv"
    else
      printf '%s\tfailed (exit %s; see %s)\t%s\t%s\n' "$name" "$rc" "$dir/$name.log" $((SECONDS - t)) "$note" \
        >>"$dir/runs.tsv"
      say "$name failed (exit $rc); going on with the others"
      local r
      for r in delivery@2 mta@2 imap@2; do
        "$REPO/scripts/kite-local" kill-daemon "$r" TERM --data "$DATA" >/dev/null 2>&1 || true
      done
      "$REPO/scripts/kite-local" start-daemon delivery --data "$DATA" >/dev/null 2>&1 || true
    fi
  }
  if [ -n "$smtp_note" ]; then
    printf 'smtp\tskipped\t0\t%s\n' "$smtp_note" >>"$dir/runs.tsv"
    say "smtp $smtp_note"
  else
    run_one smtp "$pf_note" "${smtp[@]}" "${pf_opt[@]}"
  fi
  run_one e2e "$pf_note" "${e2e[@]}" "${pf_opt[@]}"
  run_one delivery "$pf_note" "${delivery[@]}" "${pf_opt[@]}"
  run_one imap "$dc_note" "${imap[@]}" "${dc_opt[@]}"
  run_one pop3 "$dc_note" "${pop3[@]}" "${dc_opt[@]}"
  run_one caldav "$rad_note" "${caldav[@]}" "${rad_opt[@]}"
  run_one freebusy "no peer: compared with the targets of issue 7 (p99 10 ms cached, 100 ms uncached)" \
    "${freebusy[@]}"

  local cmd="scripts/bench all"
  [ "$QUICK" = 1 ] && cmd+=" --quick"
  /usr/bin/python3 "$REPO/tests/bench/bench_report.py" report --dir "$dir" --out "$out" --svg "$svg" \
    --machine "$dir/machine.json" --runs "$dir/runs.tsv" --command "$cmd" --total-seconds $((SECONDS - start))
  rc=$?
  say "all: $((SECONDS - start)) s in total"
  return $rc
}
