// Parameter shapes bound by pgjdbc with setLong, setInt, setBigDecimal,
// setTimestamp, setDate and setString, each statement run past
// prepareThreshold (5) so the later runs use a named server-side statement
// and binary transfer. Every run must answer as PostgreSQL would.
// The table shapes.t (id int, amount numeric(12,2), at timestamp, note
// text) must exist and be empty.
// Run: java -cp /usr/share/java/postgresql.jar ParamShapes.java HOST PORT

import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class ParamShapes {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    interface Binder {
        void bind(PreparedStatement ps) throws SQLException;
    }

    /** The rows of a result, each column as text. */
    static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            StringBuilder row = new StringBuilder();
            for (int i = 1; i <= n; i++) {
                if (i > 1) row.append('|');
                row.append(rs.getString(i));
            }
            out.add(row.toString());
        }
        return out;
    }

    /** Run `sql` 7 times with the values `bind` sets; each run must return `want`. */
    static void shape(Connection c, String sql, Binder bind, List<String> want) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int run = 0; run < 7; run++) {
                bind.bind(ps);
                try (ResultSet rs = ps.executeQuery()) {
                    List<String> got = rows(rs);
                    check(got.equals(want), sql + " run " + run + ": " + got + " (want " + want + ")");
                }
            }
            check(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), "server-side prepare: " + sql);
        }
    }

    /** The rows of `literal`, the same query with the values written in. */
    static List<String> oracle(Connection c, String literal) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(literal)) {
            return rows(rs);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/lake";
        try (Connection c = DriverManager.getConnection(url, "weir", "weir")) {
            shape(c, "SELECT ?::bigint + 1", ps -> ps.setLong(1, 41), List.of("42"));
            shape(c, "SELECT ? + 1", ps -> ps.setInt(1, 41), List.of("42"));
            shape(c, "SELECT CAST(? AS bigint)", ps -> ps.setLong(1, 1L << 40), List.of(String.valueOf(1L << 40)));
            shape(c, "SELECT 1 WHERE ?::bigint > 0", ps -> ps.setLong(1, -5), List.of());
            shape(c, "SELECT n_name FROM tpch.nation WHERE n_nationkey = ?", ps -> ps.setLong(1, 5), List.of("ETHIOPIA"));
            shape(c, "SELECT n_name FROM tpch.nation WHERE n_nationkey = ?", ps -> ps.setInt(1, 7), List.of("GERMANY"));
            shape(c, "SELECT n_name FROM tpch.nation WHERE n_nationkey IN (?, ?) ORDER BY 1",
                ps -> { ps.setInt(1, 5); ps.setLong(2, 7); }, List.of("ETHIOPIA", "GERMANY"));
            shape(c, "SELECT count(*) FROM tpch.orders WHERE o_totalprice > ?",
                ps -> ps.setBigDecimal(1, new BigDecimal("100000.50")),
                oracle(c, "SELECT count(*) FROM tpch.orders WHERE o_totalprice > 100000.50"));
            shape(c, "SELECT count(*) FROM tpch.orders WHERE o_orderdate >= ? AND o_orderdate < ?",
                ps -> { ps.setDate(1, java.sql.Date.valueOf("1995-01-01")); ps.setDate(2, java.sql.Date.valueOf("1995-04-01")); },
                oracle(c, "SELECT count(*) FROM tpch.orders WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1995-04-01'"));
            shape(c, "SELECT sum(l_extendedprice * l_discount) FROM tpch.lineitem WHERE l_shipdate >= ? "
                    + "AND l_discount BETWEEN ? AND ? AND l_quantity < ?",
                ps -> {
                    ps.setDate(1, java.sql.Date.valueOf("1994-01-01"));
                    ps.setBigDecimal(2, new BigDecimal("0.05"));
                    ps.setBigDecimal(3, new BigDecimal("0.07"));
                    ps.setInt(4, 24);
                },
                oracle(c, "SELECT sum(l_extendedprice * l_discount) FROM tpch.lineitem WHERE l_shipdate >= DATE '1994-01-01' "
                    + "AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24"));
            shape(c, "SELECT n_name FROM tpch.nation ORDER BY n_nationkey LIMIT ? OFFSET ?",
                ps -> { ps.setInt(1, 2); ps.setLong(2, 3); }, List.of("CANADA", "EGYPT"));
            shape(c, "SELECT left(?, ?)", ps -> { ps.setString(1, "hello"); ps.setInt(2, 2); }, List.of("he"));
            shape(c, "SELECT count(*) FROM tpch.orders WHERE o_custkey IN "
                    + "(SELECT c_custkey FROM tpch.customer WHERE c_nationkey = ? AND c_acctbal > ?)",
                ps -> { ps.setInt(1, 3); ps.setBigDecimal(2, new BigDecimal("5000")); },
                oracle(c, "SELECT count(*) FROM tpch.orders WHERE o_custkey IN "
                    + "(SELECT c_custkey FROM tpch.customer WHERE c_nationkey = 3 AND c_acctbal > 5000)"));

            // INSERT past the threshold, then the rows read back by timestamp.
            Timestamp at = Timestamp.valueOf("2024-02-29 13:14:15.123456");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO shapes.t (id, amount, at, note) VALUES (?, ?, ?, ?)")) {
                for (int id = 1; id <= 7; id++) {
                    ps.setInt(1, id);
                    ps.setBigDecimal(2, new BigDecimal("12.34").add(BigDecimal.valueOf(id)));
                    ps.setTimestamp(3, at);
                    ps.setString(4, "row " + id);
                    check(ps.executeUpdate() == 1, "one row inserted");
                }
            }
            shape(c, "SELECT id, amount, note FROM shapes.t WHERE at = ? AND amount > ? ORDER BY id",
                ps -> { ps.setTimestamp(1, at); ps.setBigDecimal(2, new BigDecimal("18.34")); },
                List.of("7|19.34|row 7"));
            shape(c, "SELECT count(*) FROM shapes.t WHERE at < ?",
                ps -> ps.setTimestamp(1, Timestamp.valueOf("2024-02-29 13:14:15.123457")), List.of("7"));
            shape(c, "SELECT count(*) FROM shapes.t WHERE at > ?", ps -> ps.setTimestamp(1, at), List.of("0"));
        }
        System.out.println("SHAPES OK");
    }
}
