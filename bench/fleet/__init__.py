"""Many hosts, one comparison: `bench fleet run` drives bench across an Ansible inventory.

The controller builds bench as a wheel, reads which machine each host is, and runs a
playbook shipped here (playbooks/) wave by wave: hosts of one machine one after the other,
different machines in parallel (Ansible's forks). Every host records into one history
store and its results directory comes back under one fleet directory; reports.fleet puts
the hosts side by side. Ansible does the connecting, copying and fetching: bench has no SSH
loop of its own.
"""
