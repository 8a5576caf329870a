"""The netns hypervisor driver: instances are Linux containers (network, UTS, mount, PID and IPC
namespaces, a cgroup, an overlay root filesystem) on per-network Linux bridges; routers are
namespaces with NAT; security groups are nftables rulesets.

Modules: ``names`` (every kernel object's name, from ids only), ``records`` (what was created,
recorded before it is created), ``instance``/``rootfs``/``cgroups``/``devices`` (the
container), ``guest_init`` (its init's three stages) with ``guest_system`` (system calls,
mounts) and ``guest_setup`` (config drive, network, keys, sshd, user data), ``network/`` (bridges, ports, routers, floating IPs, security groups, the
reconciler), ``driver`` (the Driver protocol on top) and ``cleanup``."""
