# The commands a newcomer needs: `make demo` (set up, bring the lab up, show it working) and `make test`.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_HOME := $(CURDIR)/.ansible
export ANSIBLE_FORCE_COLOR ?= 1

.PHONY: setup setup-venv demo lab-up lab-down test lint package sanity unit molecule build

setup:            ## host packages, podman runtime, virtualenv, lab image
	scripts/setup.sh

lab-up: setup     ## bring the lab up (a second run changes nothing)
	ansible-playbook lab/up.yml

lab-down:         ## remove every lab container and the lab network
	ansible-playbook lab/down.yml

demo: lab-up      ## the lab, then a look at it working through the load balancer
	scripts/demo.sh

test: setup       ## everything CI runs: lint, sanity, unit tests, molecule scenarios
	scripts/test.sh

setup-venv:       ## only the virtualenv (and, as root, the test servers' packages): no podman, no lab image
	scripts/setup.sh venv

lint package unit sanity: setup-venv
	scripts/test.sh $@

molecule: setup
	scripts/test.sh $@

build:            ## the collection tarball
	ansible-galaxy collection build --force
