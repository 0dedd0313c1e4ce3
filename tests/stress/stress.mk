# tests/stress/stress.mk: `make stress` and its short form (see the doc of
# tests/stress/test_stress.py).  A fragment for the top-level Makefile,
# included after BUILD and GUEST_ELF are defined.
#
#   stress        every stress and fault test, STRESS_SECONDS (20) a phase
#   stress-short  the mixed-load test only, 4 s, 16 guest names (make check)
#
# The daemon is $(BUILD)/rumprund as built (RR_DAEMON=... for another);
# libvirt is a private libvirtd (tests/stress/privlibvirt.sh), so the
# faults never touch the shared one.

STRESS_SECONDS ?= 20

.PHONY: stress stress-short
stress: all $(GUEST_ELF) $(EVDELAY)
	RR_BUILD=$(BUILD) RR_STRESS_SECONDS=$(STRESS_SECONDS) \
		$(PYTHON) -m pytest -q -rxX tests/stress

stress-short: all $(GUEST_ELF) $(EVDELAY)
	RR_BUILD=$(BUILD) RR_STRESS_SECONDS=4 RR_STRESS_NAMES=16 \
		$(PYTHON) -m pytest -q -m "not slow" tests/stress
