"""Reading input lines: visitors, records to assert and Segment events, one line at a time."""
