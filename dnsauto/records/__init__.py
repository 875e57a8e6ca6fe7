"""The records a mail domain needs, as dnspython RRsets."""
