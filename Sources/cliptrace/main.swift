print("cliptrace")
