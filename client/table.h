/*
 * table: text tables whose columns are as wide as their widest cell.
 */
#ifndef TABLE_H
#define TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table;

/* A table of ncols columns: new (free with table_free()), or NULL. */
struct table *table_new(size_t ncols);

/* Free t and its cells; NULL is fine. */
void table_free(struct table *t);

/*
 * Add a row of ncols cells (copied; a NULL cell is "-").  Returns 0, or -1
 * when out of memory (the row is then missing).
 */
int table_row(struct table *t, const char *const cells[]);

/* The number of rows added. */
size_t table_rows(const struct table *t);

/*
 * Print t to fp: cells padded with spaces to their column's width (in
 * UTF-8 characters) and two spaces between columns; the last column is
 * not padded.
 */
void table_print(const struct table *t, FILE *fp);

/* The width of s in UTF-8 characters. */
size_t table_width(const char *s);

#endif
