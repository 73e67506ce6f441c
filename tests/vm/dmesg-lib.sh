# tests/vm/dmesg-lib.sh: the kernel log lines that fail a guest test, and
# the expected noise among them; sourced (sh), never run. One definition for
#   - the guest's /init (tests/vm/guest-init.sh), which checks the kernel
#     log at boot and after each test (HARNESS_DMESG_BAD/_OK);
#   - tests/vm/lib.sh (dmesg_bad, for tests that check it themselves);
#   - the host's scripts/lib.sh, for vm-run.sh's account of a test that
#     did not finish.
# vm-run.sh ships it in the guest's /tests/ (as every tests/vm/*-lib.sh).
# Extended regular expressions (grep -E).

WC_DMESG_BAD='BUG:|WARNING:|Oops|general protection|hung_task|blocked for more than|UBSAN|KASAN|kernel BUG|Call Trace|Kernel panic|soft lockup|detected stall|Unable to handle kernel'
# Expected: taint messages of out-of-tree/unsigned modules, the command
# line (it contains "hung_task_panic").
WC_DMESG_OK='taints kernel|module verification failed|[Cc]ommand line:|Unknown kernel command line parameters'
