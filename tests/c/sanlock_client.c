/*
 * A client of sanlock's protocol linked against Debian's libsanlock 3.8,
 * replaying the calls libvirt and lvmlockd make, for tests/sanlock_protocol.rs.
 *
 * Usage: sanlock_client MODE LOCKSPACE RESOURCE PATH OFFSET
 *
 * Modes:
 *   libvirt  fork a child that registers, sets a killpath, acquires with an
 *            owner name and restricts its connection (libvirt's child before
 *            QEMU's exec); from the parent, inquire it by pid, inquire an
 *            unregistered pid, release for it, then after a line on stdin
 *            acquire for it again; then, after another line, SIGKILL it.
 *   lvm      lvmlockd's sequence: killpath + RESTRICT_SIGKILL, a PERSISTENT
 *            resource acquired with OWNER_NOWAIT, the connection closed (an
 *            orphan), adopted on a new connection with ORPHAN, converted to
 *            shared and back, released with RENAME (to "#unused"), a plain
 *            release then finding nothing, set_config
 *            USED_BY_ORPHANS, get_hosts.
 *   persist  register, acquire the resource PERSISTENT, exit.
 *   adopt    register, adopt the orphan with ORPHAN, then after a line on
 *            stdin release it.
 *
 * Each step prints one line "step rv [detail]"; steps that wait print
 * "wait" and read a line from stdin first, so the test checks the daemon's
 * state at that point. Exit status 0 unless a call could not be made.
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>

struct one_disk_resource {
	struct sanlk_resource res;
	struct sanlk_disk disk;
};

static const char *ls_name;

static void resource(struct one_disk_resource *r, const char *res_name, const char *path,
		     uint64_t offset, uint32_t flags)
{
	memset(r, 0, sizeof(*r));
	strncpy(r->res.lockspace_name, ls_name, SANLK_NAME_LEN);
	strncpy(r->res.name, res_name, SANLK_NAME_LEN);
	r->res.flags = flags;
	r->res.num_disks = 1;
	strncpy(r->disk.path, path, SANLK_PATH_LEN - 1);
	r->disk.offset = offset;
}

static void wait_line(void)
{
	char line[64];

	printf("wait\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		exit(3);
}

static void say(const char *step, int rv)
{
	printf("%s %d\n", step, rv);
	fflush(stdout);
}

/* Prints "step rv count state" for an inquire of (sock, pid). */
static void inquire(const char *step, int sock, int pid)
{
	int count = -1;
	char *state = NULL;
	int rv = sanlock_inquire(sock, pid, 0, &count, &state);

	printf("%s %d %d %s\n", step, rv, count, state ? state : "-");
	fflush(stdout);
	free(state);
}

static int libvirt(struct one_disk_resource *r)
{
	struct sanlk_resource *res[1] = { &r->res };
	int ready[2];
	pid_t child;
	char byte;

	if (pipe(ready) < 0)
		return 2;
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		struct sanlk_options opt;
		int sock, rv;

		close(ready[0]);
		/* Dies with the parent, whatever becomes of it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(15);
		memset(&opt, 0, sizeof(opt));
		strncpy(opt.owner_name, "vm1", SANLK_NAME_LEN);
		sock = sanlock_register();
		if (sock < 0)
			_exit(10);
		rv = sanlock_killpath(sock, 0, "/bin/true", "qemu:///system uuid-1 poweroff");
		if (rv < 0)
			_exit(11);
		rv = sanlock_acquire(sock, -1, 0, 1, res, &opt);
		if (rv < 0) {
			fprintf(stderr, "child acquire %d\n", rv);
			_exit(12);
		}
		rv = sanlock_restrict(sock, SANLK_RESTRICT_ALL);
		if (rv < 0)
			_exit(13);
		byte = 1;
		if (write(ready[1], &byte, 1) != 1)
			_exit(14);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &byte, 1) != 1) {
		int status = 0;

		waitpid(child, &status, 0);
		printf("child-failed %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 0;
	}
	printf("child %d\n", (int)child);
	fflush(stdout);
	inquire("inquire", -1, child);
	/* This process never registered. */
	inquire("inquire-unregistered", -1, getpid());
	say("release", sanlock_release(-1, child, 0, 1, res));
	inquire("inquire-released", -1, child);
	wait_line();
	say("reacquire", sanlock_acquire(-1, child, 0, 1, res, NULL));
	wait_line();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	say("killed", 0);
	return 0;
}

static int lvm(struct one_disk_resource *r, const char *res_name, const char *path,
	       uint64_t offset)
{
	struct sanlk_resource *res[1] = { &r->res };
	struct one_disk_resource renamed;
	struct sanlk_resource *rename_args[2] = { &r->res, &renamed.res };
	struct sanlk_host *hosts = NULL;
	struct timespec start, now;
	int sock, count = 0, rv, i;

	sock = sanlock_register();
	say("register", sock < 0 ? sock : 0);
	if (sock < 0)
		return 0;
	say("killpath", sanlock_killpath(sock, 0, "/bin/true", "--kill vg1"));
	say("restrict", sanlock_restrict(sock, SANLK_RESTRICT_SIGKILL));
	say("acquire", sanlock_acquire(sock, -1, SANLK_ACQUIRE_OWNER_NOWAIT, 1, res, NULL));
	close(sock);
	say("closed", 0);
	wait_line();

	sock = sanlock_register();
	say("register-again", sock < 0 ? sock : 0);
	if (sock < 0)
		return 0;
	say("adopt", sanlock_acquire(sock, -1, SANLK_ACQUIRE_ORPHAN | SANLK_ACQUIRE_OWNER_NOWAIT,
				     1, res, NULL));
	inquire("inquire-adopted", sock, -1);

	r->res.flags |= SANLK_RES_SHARED;
	say("convert-sh", sanlock_convert(sock, -1, SANLK_CONVERT_OWNER_NOWAIT, &r->res));
	inquire("inquire-sh", sock, -1);
	r->res.flags &= ~SANLK_RES_SHARED;
	say("convert-ex", sanlock_convert(sock, -1, SANLK_CONVERT_OWNER_NOWAIT, &r->res));
	inquire("inquire-ex", sock, -1);

	resource(&renamed, "#unused", path, offset, 0);
	(void)res_name;
	say("release-rename", sanlock_release(sock, -1, SANLK_REL_RENAME, 2, rename_args));
	inquire("inquire-after-rename", sock, -1);
	say("release", sanlock_release(sock, -1, 0, 1, res));
	inquire("inquire-released", sock, -1);

	say("set-config", sanlock_set_config(ls_name, 0, SANLK_CONFIG_USED_BY_ORPHANS, NULL));

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		rv = sanlock_get_hosts(ls_name, 0, &hosts, &count, 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (rv != -EAGAIN || now.tv_sec - start.tv_sec >= 2)
			break;
		usleep(100 * 1000);
	}
	printf("get-hosts %d %d", rv, count);
	for (i = 0; rv == 0 && i < count; i++)
		printf(" %llu:%u", (unsigned long long)hosts[i].host_id,
		       hosts[i].flags & SANLK_HOST_MASK);
	printf("\n");
	fflush(stdout);
	free(hosts);
	close(sock);
	return 0;
}

static int persist(struct one_disk_resource *r)
{
	struct sanlk_resource *res[1] = { &r->res };
	int sock = sanlock_register();

	say("register", sock < 0 ? sock : 0);
	if (sock < 0)
		return 0;
	say("acquire", sanlock_acquire(sock, -1, 0, 1, res, NULL));
	return 0;
}

static int adopt(struct one_disk_resource *r)
{
	struct sanlk_resource *res[1] = { &r->res };
	int sock = sanlock_register();

	say("register", sock < 0 ? sock : 0);
	if (sock < 0)
		return 0;
	say("adopt", sanlock_acquire(sock, -1, SANLK_ACQUIRE_ORPHAN, 1, res, NULL));
	inquire("inquire-adopted", sock, -1);
	wait_line();
	say("release", sanlock_release(sock, -1, 0, 1, res));
	return 0;
}

int main(int argc, char **argv)
{
	struct one_disk_resource r;
	const char *mode;
	uint64_t offset;

	if (argc != 6) {
		fprintf(stderr, "usage: %s MODE LOCKSPACE RESOURCE PATH OFFSET\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	ls_name = argv[2];
	offset = strtoull(argv[5], NULL, 0);
	if (!strcmp(mode, "libvirt")) {
		resource(&r, argv[3], argv[4], offset, 0);
		return libvirt(&r);
	}
	if (!strcmp(mode, "lvm")) {
		resource(&r, argv[3], argv[4], offset, SANLK_RES_PERSISTENT);
		return lvm(&r, argv[3], argv[4], offset);
	}
	if (!strcmp(mode, "persist")) {
		resource(&r, argv[3], argv[4], offset, SANLK_RES_PERSISTENT);
		return persist(&r);
	}
	if (!strcmp(mode, "adopt")) {
		resource(&r, argv[3], argv[4], offset, SANLK_RES_PERSISTENT);
		return adopt(&r);
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
