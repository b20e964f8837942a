// A JDBC session against Weir with the PostgreSQL JDBC driver (pgjdbc):
// metadata introspection, fetch-size cursors (portal suspension), server-side
// prepared statements past prepareThreshold (binary transfer), types,
// SQLSTATEs and Statement.cancel(). Exits non-zero on the first failure.
// Run: java -cp /usr/share/java/postgresql.jar JdbcSession.java HOST PORT

import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcSession {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/lake?ApplicationName=jdbc-test";
        try (Connection c = DriverManager.getConnection(url, "weir", "weir")) {
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), "product name");

            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "tpch", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            check(tables.containsAll(List.of("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")), "getTables: " + tables);

            List<String> columns = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "tpch", "orders", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME"));
            }
            check(columns.contains("o_orderkey") && columns.contains("o_totalprice"), "getColumns: " + columns);

            // Fetch size: rows arrive through a suspended portal, 1000 at a time.
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setFetchSize(1000);
                long count = 0, last = 0;
                try (ResultSet rs = st.executeQuery("SELECT o_orderkey, o_totalprice, o_orderdate FROM lake.tpch.orders ORDER BY o_orderkey")) {
                    while (rs.next()) {
                        long k = rs.getLong(1);
                        check(k > last, "ordered across fetches");
                        last = k;
                        BigDecimal price = rs.getBigDecimal(2);
                        check(price.scale() == 2, "numeric scale kept: " + price);
                        check(rs.getDate(3) != null, "date");
                        count++;
                    }
                }
                check(count == 15000, "fetched all orders: " + count);
            }
            c.commit();
            c.setAutoCommit(true);

            // Past prepareThreshold (5) pgjdbc uses a named server-side statement
            // and binary results: every execution must answer for its own
            // parameter, as the same query with the value written in does.
            try (PreparedStatement ps = c.prepareStatement("SELECT n_name, n_regionkey FROM lake.tpch.nation WHERE n_nationkey = ?");
                 Statement literal = c.createStatement()) {
                for (int i = 0; i < 12; i++) {
                    String want;
                    try (ResultSet rs = literal.executeQuery("SELECT n_name || '/' || n_regionkey FROM lake.tpch.nation WHERE n_nationkey = " + i)) {
                        check(rs.next(), "literal nation " + i);
                        want = rs.getString(1);
                    }
                    ps.setLong(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "nation " + i);
                        String got = rs.getString(1) + "/" + rs.getLong(2);
                        check(got.equals(want), "nation " + i + ": " + got + " (want " + want + ")");
                        check(!rs.next(), "one row");
                    }
                }
                check(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), "server-side prepare in use");
            }
            String[][] params = {{"1998-01-01", "0.05"}, {"1995-06-17", "0.01"}, {"1992-01-02", "0.09"}, {"1998-01-01", "0.05"}, {"1997-03-01", "0.00"}, {"1993-10-10", "0.07"}, {"1996-01-01", "0.02"}};
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM lake.tpch.lineitem WHERE l_shipdate >= ? AND l_discount > ?");
                 Statement literal = c.createStatement()) {
                Set<Long> distinct = new HashSet<>();
                for (String[] p : params) {
                    long want;
                    try (ResultSet rs = literal.executeQuery("SELECT count(*) FROM lake.tpch.lineitem WHERE l_shipdate >= DATE '" + p[0] + "' AND l_discount > " + p[1])) {
                        check(rs.next(), "literal count");
                        want = rs.getLong(1);
                    }
                    ps.setDate(1, java.sql.Date.valueOf(p[0]));
                    ps.setBigDecimal(2, new BigDecimal(p[1]));
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next() && rs.getLong(1) == want, "typed parameters " + Arrays.toString(p) + ": want " + want);
                    }
                    distinct.add(want);
                }
                check(distinct.size() >= 5, "the parameters select different rows: " + distinct);
            }
            try (Statement st = c.createStatement()) {
                try {
                    st.executeQuery("SELECT * FROM lake.tpch.nope");
                    check(false, "must fail");
                } catch (SQLException e) {
                    check("42P01".equals(e.getSQLState()), "undefined table: " + e.getSQLState());
                }
                try (ResultSet rs = st.executeQuery("SHOW application_name")) {
                    check(rs.next() && rs.getString(1).equals("jdbc-test"), "application_name from the URL");
                }
            }

            // Statement.cancel() from another thread: the first after 700 ms,
            // then every 2 s until the statement ends (a cancel that arrives
            // before the statement is registered is dropped, as in PostgreSQL).
            try (Statement st = c.createStatement()) {
                java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean(false);
                java.util.concurrent.atomic.AtomicLong lastCancel = new java.util.concurrent.atomic.AtomicLong();
                java.util.concurrent.atomic.AtomicInteger cancels = new java.util.concurrent.atomic.AtomicInteger();
                Thread canceller = new Thread(() -> {
                    try {
                        Thread.sleep(700);
                        while (!done.get()) {
                            lastCancel.set(System.nanoTime());
                            cancels.incrementAndGet();
                            st.cancel();
                            Thread.sleep(2000);
                        }
                    } catch (InterruptedException e) {
                        // the statement ended
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                canceller.start();
                try {
                    st.executeQuery("SELECT count(*) FROM generate_series(1, 5000000000) WHERE value % 7 = 3");
                    check(false, "must be canceled");
                } catch (SQLException e) {
                    check("57014".equals(e.getSQLState()), "canceled: " + e.getSQLState() + " " + e.getMessage());
                }
                long stopped = System.nanoTime();
                done.set(true);
                canceller.interrupt();
                canceller.join();
                check(cancels.get() <= 2, cancels.get() + " cancels were needed");
                check((stopped - lastCancel.get()) / 1_000_000 < 1_000, "canceled within a second: " + (stopped - lastCancel.get()) / 1_000_000 + " ms");
            }
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                check(rs.next() && rs.getInt(1) == 1, "usable after cancel");
            }
        }
        System.out.println("JDBC OK");
    }
}
