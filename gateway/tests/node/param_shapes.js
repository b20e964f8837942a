// Parameter shapes bound by node-postgres (pg): it sends every value as
// text with no type (OID 0), so Weir reads each as the type it infers for
// the parameter's place; every answer must be PostgreSQL's. Each statement
// runs twice as a named prepared statement too. The table shapes.t (id int,
// amount numeric(12,2), at timestamp, note text) must exist and be empty.
// Run: node param_shapes.js HOST PORT (with `pg` on NODE_PATH).

const { Client } = require("pg");

const [host, port] = process.argv.slice(2);

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// [SQL, values, rows (as JSON text) or a query with the values written in]
const SHAPES = [
  ["SELECT $1::bigint + 1 AS v", [41], [{ v: "42" }]],
  ["SELECT $1 + 1 AS v", [41], [{ v: "42" }]],
  ["SELECT 1 AS v WHERE $1::bigint > 0", [-5], []],
  ["SELECT n_name FROM tpch.nation WHERE n_nationkey = $1", [5], [{ n_name: "ETHIOPIA" }]],
  ["SELECT n_name FROM tpch.nation WHERE n_nationkey IN ($1, $2) ORDER BY 1", [5, 7],
    [{ n_name: "ETHIOPIA" }, { n_name: "GERMANY" }]],
  ["SELECT count(*) AS n FROM tpch.orders WHERE o_totalprice > $1", ["100000.50"],
    "SELECT count(*) AS n FROM tpch.orders WHERE o_totalprice > 100000.50"],
  ["SELECT count(*) AS n FROM tpch.orders WHERE o_orderdate >= $1 AND o_orderdate < $2",
    ["1995-01-01", "1995-04-01"],
    "SELECT count(*) AS n FROM tpch.orders WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1995-04-01'"],
  ["SELECT sum(l_extendedprice * l_discount) AS s FROM tpch.lineitem WHERE l_shipdate >= $1 " +
    "AND l_discount BETWEEN $2 AND $3 AND l_quantity < $4", ["1994-01-01", "0.05", "0.07", 24],
    "SELECT sum(l_extendedprice * l_discount) AS s FROM tpch.lineitem WHERE l_shipdate >= DATE '1994-01-01' " +
    "AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24"],
  ["SELECT n_name FROM tpch.nation ORDER BY n_nationkey LIMIT $1 OFFSET $2", [2, 3],
    [{ n_name: "CANADA" }, { n_name: "EGYPT" }]],
  ["SELECT left($1, $2) AS v", ["hello", 2], [{ v: "he" }]],
  ["SELECT n_name FROM tpch.nation WHERE n_name LIKE $1 ORDER BY 1", ["UNITED%"],
    [{ n_name: "UNITED KINGDOM" }, { n_name: "UNITED STATES" }]],
  ["INSERT INTO shapes.t (id, amount, at, note) VALUES ($1, $2, $3, $4)",
    [1, "12.345", "2024-02-29 13:14:15.123456", "first"], null],
  // numeric(12,2) takes 12.345 as PostgreSQL does: rounded to 12.35.
  ["SELECT id, amount::text AS amount, note FROM shapes.t WHERE at = $1 AND amount = $2",
    ["2024-02-29 13:14:15.123456", "12.35"], [{ id: 1, amount: "12.35", note: "first" }]],
  ["SELECT count(*) AS n FROM shapes.t WHERE at < $1", ["2024-02-29 13:14:15.123457"], [{ n: "1" }]],
];

async function main() {
  const client = new Client({ host, port: Number(port), user: "weir", password: "weir", database: "lake" });
  await client.connect();
  try {
    let i = 0;
    for (const [text, values, want] of SHAPES) {
      if (want === null) {
        await client.query(text, values);
        continue;
      }
      const expected = typeof want === "string" ? (await client.query(want)).rows : want;
      for (const name of [undefined, `shape${i}`, `shape${i}`]) {
        const res = await client.query({ text, values, name });
        const got = JSON.stringify(res.rows);
        check(got === JSON.stringify(expected), `${text} ${JSON.stringify(values)}: ${got} (want ${JSON.stringify(expected)})`);
      }
      i += 1;
    }
  } finally {
    await client.end();
  }
  console.log("SHAPES OK");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
