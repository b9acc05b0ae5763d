"""Batches in columns (``connectors.flink.columns_of``): the shape a batch crosses between Java and Python in, as
PyFlink's own coders write and read it, without running Flink."""
from pyflink.common import Row, Types
from pyflink.fn_execution.coders import from_type_info

from connectors.flink import columns_of
from jobs.flink.eventsourcing_job import PROJECTION, _Columns


def test_columns_of_a_row_type_is_one_array_a_field_with_the_field_s_name():
    row_type = Types.ROW_NAMED(["id", "version", "raw"], [Types.STRING(), Types.LONG(),
                                                         Types.PRIMITIVE_ARRAY(Types.BYTE())])
    assert columns_of(row_type) == Types.ROW_NAMED(
        ["id", "version", "raw"], [Types.OBJECT_ARRAY(Types.STRING()), Types.OBJECT_ARRAY(Types.LONG()),
                                   Types.OBJECT_ARRAY(Types.PRIMITIVE_ARRAY(Types.BYTE()))])


def test_rows_gathered_in_columns_cross_as_one_element_and_read_back_row_by_row():
    rows = [("acct-1", 3, "open", '{"balance": "10"}', 1_000), ("acct-2", 1, None, "{}", None)]
    batch = _Columns()
    assert not batch
    for row in rows:
        batch.add(*row)
    assert batch
    coder = from_type_info(columns_of(PROJECTION)).get_impl()
    decoded = coder.decode(coder.encode(batch.row()))
    assert isinstance(decoded, Row)
    assert list(zip(*decoded)) == rows
