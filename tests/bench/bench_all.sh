# shellcheck shell=bash
# `scripts/bench all`: sourced by scripts/bench (which has parsed the arguments: BIN, OUT, QUICK,
# POSTFIX, DOVECOT, RADICALE) to run every benchmark that has a peer, one after the other, each
# on a suite of its own, then tests/bench/bench_report.py for the table, the JSON and the chart.
#
# Sizes: chosen so that the whole run stays under 15 minutes on a 2-core machine (measured:
# docs/performance.md); --quick shrinks every one of them for trying the command out.
# Nothing here passes or fails on time; a benchmark that fails is reported and the rest go on.

bench_all() {
  local out svg dir start root=0 rc
  out=${OUT:-$REPO/var/bench/results.json}
  case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
  svg="${out%.json}.svg"
  dir="$(dirname "$out")/all"
  mkdir -p "$dir"
  rm -f "$dir"/*.json "$dir"/*.log "$dir/runs.tsv"
  [ "$(id -u)" = 0 ] && root=1
  start=$SECONDS

  local needed=(kitectl kite-auth kite-mta kite-submission kite-delivery kite-imap kite-pop3 kite-caldav
    kite-freebusy fb_seed) exe
  for exe in "${needed[@]}"; do
    [ -x "$BIN/$exe" ] || die "$BIN/$exe not found (build: ninja -C $(dirname "$BIN") ${needed[*]})"
  done
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
    pf_opt=(--no-postfix); pf_note="peer not measured: --no-postfix"
  elif [ ! -x /usr/sbin/postfix ]; then
    pf_opt=(--no-postfix); pf_note="peer not available: postfix is not installed (scripts/install-deps)"
  elif [ $root = 0 ]; then
    pf_opt=(--no-postfix); pf_note="peer not available: the private Postfix needs root (its master runs as root)"
  fi
  [ -x /usr/sbin/smtp-source ] ||
    smtp_note="not run: Postfix's smtp-source (the load generator) is not installed (apt-get install postfix)"
  if [ "$DOVECOT" = no ]; then
    dc_opt=(--no-dovecot); dc_note="peer not measured: --no-dovecot"
  elif [ $root = 0 ]; then
    dc_opt=(--no-dovecot)
    dc_note="peer not available: the private Dovecot needs root"
    [ -x /usr/sbin/dovecot ] || dc_note+=" (and dovecot-imapd/dovecot-pop3d are not installed)"
  fi
  if [ "$RADICALE" = no ]; then
    rad_opt=(--no-radicale); rad_note="peer not measured: --no-radicale"
  elif [ ! -x /usr/bin/radicale ] && [ $root = 0 ]; then
    rad_opt=(--no-radicale); rad_note="peer not available: radicale is not installed (apt-get install radicale)"
  fi

  # name, peer note, arguments (full run | quick run).
  local smtp e2e delivery imap pop3 caldav freebusy
  if [ "$QUICK" = 1 ]; then
    smtp=(--messages 200 --concurrency 1,20 --sizes 4096 --scaling-replicas 1,2)
    e2e=(--messages 200 --sessions 10 --serial-messages 30)
    delivery=(--messages 300 --list-messages 10 --list-members 20 --replicas 1,2)
    imap=(--users 4 --messages 60 --clients 10 --seconds 1 --replicas 1,2 --idle-connections 500
      --dovecot-idle-connections 100 --latency-trials 5)
    pop3=(--users 10 --messages 10 --clients 10 --seconds 1)
    caldav=(--clients 4 --events 20 --seconds 2)
    freebusy=(--users 100 --queries 50 --clients 4 --seconds 2)
  else
    smtp=(--messages 1000 --concurrency 1,20,100 --sizes 4096,65536 --scaling-replicas 1,2)
    e2e=(--messages 1000 --sessions 20 --serial-messages 100)
    delivery=(--messages 2000 --list-messages 50 --list-members 100 --replicas 1,2)
    imap=(--users 10 --messages 300 --clients 10,100 --seconds 2 --replicas 1,2 --idle-connections 10000
      --dovecot-idle-connections 1000 --latency-trials 20)
    pop3=(--users 100 --messages 20 --clients 10,100 --seconds 3)
    caldav=(--clients 10 --events 100 --seconds 4)
    freebusy=(--users 1000 --queries 200 --clients 4 --seconds 4)
  fi

  # run_one NAME NOTE ARGS...: one benchmark through scripts/bench, its output to the terminal
  # and NAME.log, its figures to NAME.json; a line in runs.tsv (name, status, seconds, note).
  run_one() {
    local name=$1 note=$2 t rc
    shift 2
    echo
    say "==== $name ($(date -u +%H:%M:%S) UTC, $((SECONDS - start)) s into the run)${note:+ -- $note}"
    t=$SECONDS
    set +e
    "$REPO/scripts/bench" "$name" --bin "$BIN" --out "$dir/$name.json" "$@" 2>&1 | tee "$dir/$name.log"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 0 ]; then
      printf '%s\tok\t%s\t%s\n' "$name" $((SECONDS - t)) "$note" >>"$dir/runs.tsv"
    else
      printf '%s\tfailed (exit %s; see %s)\t%s\t%s\n' "$name" "$rc" "$dir/$name.log" $((SECONDS - t)) "$note" \
        >>"$dir/runs.tsv"
      say "$name failed (exit $rc); going on with the others"
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
