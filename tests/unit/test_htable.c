#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/hash.h"
#include "base/htable.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

struct item {
	struct sv_hnode node;
	int key;
	int seen;
};

static uint64_t key_hash(int key)
{
	return sv_hash_bytes(7, &key, sizeof(key));
}

static struct item *find(struct sv_htable *t, int key)
{
	uint64_t h = key_hash(key);
	for (struct sv_hnode *n = sv_htable_first(t, h); n != NULL; n = sv_htable_next(n, h)) {
		struct item *it = sv_container_of(n, struct item, node);
		if (it->key == key)
			return it;
	}
	return NULL;
}

static void test_empty(void **state)
{
	struct sv_htable t = {0};
	struct sv_hwalk w = {0};

	assert_null(find(&t, 1));
	assert_null(sv_htable_walk(&t, &w));
	assert_int_equal(sv_htable_count(&t), 0);
	assert_int_equal(sv_htable_bytes(&t), 0);
	sv_htable_release(&t);
}

static void test_insert_find_remove_grow(void **state)
{
	enum { N = 5000 };
	struct sv_htable t = {0};
	struct item *items = calloc(N, sizeof(*items));

	assert_non_null(items);
	for (int i = 0; i < N; i++) {
		items[i].key = i;
		assert_int_equal(sv_htable_insert(&t, &items[i].node, key_hash(i)), 0);
	}
	assert_int_equal(sv_htable_count(&t), N);
	assert_true(sv_htable_bytes(&t) >= N * sizeof(void *)); /* grew */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i), &items[i]);
	assert_null(find(&t, N));
	for (int i = 0; i < N; i += 2)
		sv_htable_remove(&t, &items[i].node);
	assert_int_equal(sv_htable_count(&t), N / 2);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i), i % 2 ? &items[i] : NULL);
	sv_htable_release(&t);
	free(items);
}

static void test_same_hash_chain(void **state)
{
	struct sv_htable t = {.min_slots = 64};
	struct item a = {.key = 1}, b = {.key = 2}, c = {.key = 3};

	/* Three keys under one hash: lookups must compare keys. */
	assert_int_equal(sv_htable_insert(&t, &a.node, 99), 0);
	assert_int_equal(sv_htable_insert(&t, &b.node, 99), 0);
	assert_int_equal(sv_htable_insert(&t, &c.node, 99), 0);
	assert_int_equal(sv_htable_bytes(&t), 64 * sizeof(void *));
	int n = 0;
	for (struct sv_hnode *p = sv_htable_first(&t, 99); p != NULL; p = sv_htable_next(p, 99))
		n++;
	assert_int_equal(n, 3);
	sv_htable_remove(&t, &b.node); /* middle of the chain */
	n = 0;
	for (struct sv_hnode *p = sv_htable_first(&t, 99); p != NULL; p = sv_htable_next(p, 99))
		n += sv_container_of(p, struct item, node)->key;
	assert_int_equal(n, 4);
	assert_null(sv_htable_first(&t, 98));
	sv_htable_release(&t);
}

static void test_walk_with_removal(void **state)
{
	enum { N = 300 };
	struct sv_htable t = {0};
	struct item *items = calloc(N, sizeof(*items));
	struct sv_hwalk w = {0};
	int visited = 0;

	assert_non_null(items);
	for (int i = 0; i < N; i++) {
		items[i].key = i;
		assert_int_equal(sv_htable_insert(&t, &items[i].node, key_hash(i % 17)), 0);
	}
	for (struct sv_hnode *n; (n = sv_htable_walk(&t, &w)) != NULL;) {
		struct item *it = sv_container_of(n, struct item, node);
		it->seen++;
		visited++;
		sv_htable_remove(&t, n); /* the walk survives removing what it returned */
	}
	assert_int_equal(visited, N);
	assert_int_equal(sv_htable_count(&t), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(items[i].seen, 1);
	sv_htable_release(&t);
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_insert_find_remove_grow),
	    cmocka_unit_test(test_same_hash_chain),
	    cmocka_unit_test(test_walk_with_removal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
